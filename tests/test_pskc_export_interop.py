"""Baoling's PSKC exports read back by every importer they are written for.

One fleet covers every hash x period x digits (12 slots on 3 tokens, 4 slots each); each file is
exported once per protection x flavour and then read by python-pskc, by Baoling's verifier
(`Verifier.import_pskc`, codes validated), by RFC 6030's schema, and by importers written here
from privacyIDEA 3.14's and LinOTP's PSKC parsers (each project's `parsePSKCdata`): each applies
the rules its original does, as docs/provisioning.md lists them. pyotp gives the reference codes.
"""

import base64
import functools
import hashlib
import hmac
import io
import itertools
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pyotp
import pytest
import xmlschema
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pskc import PSKC
from pskc.serialiser import PSKCSerialiser
from pskc.xml import tostring

from baoling.provisioning.entry import Entry
from baoling.provisioning.profile import Profile
from baoling.provisioning.pskc_export import export_pskc
from baoling.verifier.service import Verifier

SCHEMAS = Path(__file__).parent / "data" / "pskc"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
AES_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PASSWORD = "correct horse battery"
PROTECTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "key": {"key": AES_KEY},
    "password": {"password": PASSWORD},
}
FLAVOURS = ["privacyidea", "rfc6030"]
SECRET_BYTES = {"sha1": 20, "sha256": 32, "sha512": 64}
COMBOS = list(itertools.product(["sha1", "sha256", "sha512"], [30, 60], [6, 8]))
FLEET = [
    Entry(
        f"ba{n // 4:04d}",
        n % 4,
        Profile(hashlib.sha512(bytes([n])).digest()[: SECRET_BYTES[alg]], alg, digits, period),
    )
    for n, (alg, period, digits) in enumerate(COMBOS)
]
# What each flavour writes, spelled out here rather than taken from the module under test.
SUITE_TEXT = {
    "privacyidea": {"sha1": "sha1", "sha256": "sha256", "sha512": "sha512"},
    "rfc6030": {"sha1": "HMAC-SHA1", "sha256": "HMAC-SHA256", "sha512": "HMAC-SHA512"},
}
CASES = [
    pytest.param(p, f, n, id=f"{p}-{f}-{a}-{s}s-{d}")
    for p in PROTECTIONS
    for f in FLAVOURS
    for n, (a, s, d) in enumerate(COMBOS)
]


@functools.cache
def exported(protection: str, flavour: str) -> bytes:
    return export_pskc(FLEET, flavour=flavour, **PROTECTIONS[protection])


def reference_code(profile: Profile, hash_name: str | None = None) -> str:
    totp = pyotp.TOTP(
        base64.b32encode(profile.secret).decode(),
        digits=profile.digits,
        digest=getattr(hashlib, hash_name or profile.algorithm),
        interval=profile.period_s,
    )
    return totp.at(NOW)


# -- python-pskc --------------------------------------------------------------------------------


@functools.cache
def python_pskc_keys(protection: str, flavour: str) -> list[Any]:
    pskc = PSKC(io.BytesIO(exported(protection, flavour)))
    if protection == "key":
        pskc.encryption.key = AES_KEY
    if protection == "password":
        pskc.encryption.derive_key(PASSWORD)
    return list(pskc.keys)


@pytest.mark.parametrize(("protection", "flavour", "n"), CASES)
def test_python_pskc_reads_every_slot(protection, flavour, n):
    keys = python_pskc_keys(protection, flavour)
    assert len(keys) == len(FLEET)
    entry, key = FLEET[n], keys[n]
    profile = entry.profile
    assert key.id == f"{entry.serial}-{entry.slot}"
    assert key.serial == (key.id if flavour == "privacyidea" else entry.serial)
    assert key.algorithm == "urn:ietf:params:xml:ns:keyprov:pskc:totp"
    assert key.algorithm_suite == SUITE_TEXT[flavour][profile.algorithm]
    assert (key.secret, key.response_length, key.time_interval) == (
        profile.secret,
        profile.digits,
        profile.period_s,
    )
    assert key.check()  # the MAC, where there is one
    imported = Profile(key.secret, profile.algorithm, key.response_length, key.time_interval)
    assert reference_code(imported) == reference_code(profile)


# -- Baoling's verifier -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verifiers(tmp_path_factory):
    """One verifier per file, each with the file imported: {(protection, flavour): Verifier}."""
    made = {}
    for protection, flavour in itertools.product(PROTECTIONS, FLAVOURS):
        verifier = Verifier(data_dir=tmp_path_factory.mktemp(f"{protection}-{flavour}"))
        ids = verifier.import_pskc(exported(protection, flavour), **PROTECTIONS[protection])
        assert ids == [entry.key_id for entry in FLEET]
        made[protection, flavour] = verifier
    yield made
    for verifier in made.values():
        verifier.close()


@pytest.mark.parametrize(("protection", "flavour", "n"), CASES)
def test_baoling_verifier_accepts_each_slots_code(verifiers, protection, flavour, n):
    verifier, entry = verifiers[protection, flavour], FLEET[n]
    code = reference_code(entry.profile)
    wrong = f"{(int(code) + 1) % 10**entry.profile.digits:0{entry.profile.digits}d}"
    assert not verifier.validate(entry.key_id, wrong, now=NOW)
    assert verifier.validate(entry.key_id, code, now=NOW)


# -- RFC 6030's schema --------------------------------------------------------------------------


@functools.cache
def pskc_schema() -> xmlschema.XMLSchema:
    """RFC 6030's schema (tests/data/README.md) with the W3C schemas it imports and XML
    Encryption 1.1's, which defines the PBKDF2 elements, all from tests/data."""
    return xmlschema.XMLSchema(
        SCHEMAS / "pskc-schema.xsd",
        locations={
            "http://www.w3.org/2000/09/xmldsig#": str(SCHEMAS / "xmldsig-core-schema.xsd"),
            "http://www.w3.org/2001/04/xmlenc#": str(SCHEMAS / "xenc-schema.xsd"),
            "http://www.w3.org/2009/xmlenc11#": str(SCHEMAS / "xenc-schema-11.xsd"),
        },
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("protection", PROTECTIONS)
def test_export_is_valid_against_rfc_6030s_schema(protection, flavour):
    pskc_schema().validate(exported(protection, flavour).decode())


@pytest.mark.parametrize(("key_bytes", "cipher"), [(24, "aes192-cbc"), (32, "aes256-cbc")])
def test_rfc6030_flavours_longer_keys_are_valid_and_read_back(tmp_path, key_bytes, cipher):
    """The rfc6030 flavour also takes a 24- or 32-byte pre-shared key: AES-192 or AES-256, every
    slot schema-valid, read back by python-pskc and imported by Baoling's verifier."""
    key = bytes(range(key_bytes))
    data = export_pskc(FLEET, flavour="rfc6030", key=key)
    pskc_schema().validate(data.decode())
    pskc = PSKC(io.BytesIO(data))
    pskc.encryption.key = key
    assert pskc.encryption.algorithm == f"http://www.w3.org/2001/04/xmlenc#{cipher}"
    assert [(k.id, k.secret) for k in pskc.keys] == [(e.key_id, e.profile.secret) for e in FLEET]
    verifier = Verifier(data_dir=tmp_path)
    try:
        assert verifier.import_pskc(data, key=key) == [entry.key_id for entry in FLEET]
        for entry in FLEET:
            assert verifier.validate(entry.key_id, reference_code(entry.profile), now=NOW)
    finally:
        verifier.close()


def test_the_schema_refuses_what_python_pskc_writes_by_itself():
    """The schema check can fail: an empty EncryptionKey and unqualified PBKDF2 parameters (what
    python-pskc writes when not told otherwise) are refused."""
    pskc = PSKC()
    pskc.encryption.setup_preshared_key(key=AES_KEY)
    pskc.add_key(id="k-0", secret=bytes(20), algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp")
    with pytest.raises(xmlschema.XMLSchemaValidationError, match="EncryptionKey"):
        pskc_schema().validate(tostring(PSKCSerialiser.serialise_document(pskc)).decode())
    pskc = PSKC()
    pskc.encryption.setup_pbkdf2(PASSWORD, iterations=1000)
    pskc.add_key(id="k-0", secret=bytes(20), algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp")
    with pytest.raises(xmlschema.XMLSchemaValidationError, match="Salt"):
        pskc_schema().validate(tostring(PSKCSerialiser.serialise_document(pskc)).decode())


# -- privacyIDEA 3.14's rules -------------------------------------------------------------------


class Refused(Exception):
    """An importer's refusal of the whole file."""


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def descendants(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    """Elements below `element` named `name`, ignoring namespace prefix and case (privacyIDEA
    parses with BeautifulSoup's HTML parser and strips the prefixes)."""
    return [e for e in element.iter() if e is not element and local(e.tag).lower() == name]


def first(element: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    if element is None:
        return None
    found = descendants(element, name)
    return found[0] if found else None


def attribute(element: ElementTree.Element, name: str) -> str:
    """An attribute by lower-cased name (HTML parsing lower-cases them); KeyError if absent."""
    return {k.lower(): v for k, v in element.attrib.items()}[name]


def text(element: ElementTree.Element | None) -> str:
    """All text inside `element`, as BeautifulSoup's `.text` gives it."""
    assert element is not None
    return "".join(element.itertext())


def aes_cbc_decrypt(key: bytes, data_b64: str) -> bytes:
    """IV first, then the ciphertext; PKCS#7 padding removed (both importers do this)."""
    data = base64.b64decode(data_b64)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
    plain = decryptor.update(data[16:]) + decryptor.finalize()
    return plain[: -plain[-1]]


def privacyidea_import(
    xml: bytes, *, key: bytes | None = None, password: str | None = None
) -> dict[str, dict[str, Any]]:
    """privacyIDEA 3.14's parsePSKCdata with validate_mac='check_fail_hard', then its TOTP
    token's hash choice: Key/@Id required, the serial from DeviceInfo/SerialNo (tokens keyed by
    it), the hash from the lower-cased Suite text (only sha1, sha256 and sha512 known, anything
    else SHA-1), AES-128-CBC only, ValueMAC checked with HMAC-SHA1 only, PBKDF2 with HMAC-SHA1."""
    container = ElementTree.fromstring(xml)
    assert local(container.tag).lower() == "keycontainer"
    derived = first(first(container, "encryptionkey"), "derivedkey")
    if derived is not None:
        method = first(derived, "keyderivationmethod")
        assert method is not None and password is not None
        if attribute(method, "algorithm").split("#")[-1].lower() != "pbkdf2":
            raise Refused("We only support PBKDF2 as Key derivation function!")
        key = hashlib.pbkdf2_hmac(
            "sha1",
            password.encode(),
            base64.b64decode(text(first(method, "salt")).strip()),
            int(text(first(method, "iterationcount")).strip()),
            int(text(first(method, "keylength")).strip()),
        )
    tokens, abort = {}, False
    for package in descendants(container, "keypackage"):
        xml_key = first(package, "key")
        assert xml_key is not None
        serial = attribute(xml_key, "id")  # a KeyError in privacyIDEA too: no token imported
        serial_no = first(first(package, "deviceinfo"), "serialno")
        if serial_no is not None:
            serial = text(serial_no).strip()
        token: dict[str, Any] = {"type": attribute(xml_key, "algorithm").split(":")[-1].lower()}
        response = first(xml_key, "responseformat")
        token["otplen"] = int(attribute(response, "length")) if response is not None else 6
        suite = first(xml_key, "suite")
        token["hashlib"] = text(suite).lower() if suite is not None and text(suite) else "sha1"
        secret = first(xml_key, "secret")
        plain, encrypted = first(secret, "plainvalue"), first(secret, "encryptedvalue")
        if plain is not None:
            token["otpkey"] = base64.b64decode(text(plain))
        elif encrypted is not None:
            method = first(encrypted, "encryptionmethod")
            assert method is not None and key is not None
            if attribute(method, "algorithm").split("#")[-1].lower() != "aes128-cbc":
                raise Refused("We only import PSKC files with AES128-CBC.")
            ciphertext = text(first(encrypted, "ciphervalue")).strip()
            token["otpkey"] = aes_cbc_decrypt(key, ciphertext)
            mac_key = aes_cbc_decrypt(key, text(first(container, "mackey")))
            mac = hmac.new(mac_key, base64.b64decode(ciphertext), hashlib.sha1).digest()
            if base64.b64encode(mac).decode() != text(first(secret, "valuemac")).strip():
                abort = True
        interval = first(xml_key, "timeinterval")
        if interval is not None:
            token["timeStep"] = int(text(interval).strip())
        tokens[serial] = token
    if abort:
        return {}
    for token in tokens.values():
        if token["hashlib"] not in ("sha1", "sha256", "sha512"):
            token["hashlib"] = "sha1"
    return tokens


# -- LinOTP's rules -----------------------------------------------------------------------------


def linotp_import(
    xml: bytes, *, key: bytes | None = None, password: str | None = None
) -> dict[str, dict[str, Any]]:
    """LinOTP's parsePSKCdata (pskc_checkserial off, its default) and its hash lookup: elements
    in the container's namespace, EncryptionKey's first child KeyName or DerivedKey (PBKDF2 with
    HMAC-SHA1, an ASCII password of 6 to 64 characters), MACMethod hmac-sha1 only, AES-128-CBC
    only, tokens keyed by DeviceInfo/SerialNo, Suite `hmac-sha1`/`hmac-sha256` mapped and any
    other text looked up lower-cased in Python's hash names, else SHA-1."""
    container = ElementTree.fromstring(xml)
    match = re.match("^({.*?})Key[Cc]ontainer$", container.tag)
    ns = match.group(1) if match else ""
    enc_algo = mac_key = None
    encryption_key = container.find(ns + "EncryptionKey")
    if encryption_key is not None and len(encryption_key):
        child = encryption_key[0]
        if local(child.tag) == "DerivedKey":
            if password is None or not 5 < len(password) <= 64:
                raise Refused("You must provide a password that is longer than 5 characters ...")
            params = {local(e.tag): e for e in child.iter()}
            method = params["KeyDerivationMethod"].get("Algorithm", "")
            if method.rpartition("#")[2] != "pbkdf2":
                raise Refused(f"We do not support key derivation method {method}")
            key = hashlib.pbkdf2_hmac(
                "sha1",
                password.encode("ascii"),
                base64.b64decode(params["Specified"].text or ""),
                int(params["IterationCount"].text or ""),
                int(params["KeyLength"].text or ""),
            )
        elif local(child.tag) != "KeyName":
            raise Refused(f"EncryptionKey starts with {local(child.tag)}")
        mac_method = container.find(ns + "MACMethod")
        assert mac_method is not None and key is not None
        if mac_method.get("Algorithm", "").rpartition("#")[2] != "hmac-sha1":
            raise Refused(f"The method {mac_method.get('Algorithm')} is not supported")
        mac_key_element = mac_method.find(ns + "MACKey")
        assert mac_key_element is not None
        for element in mac_key_element:
            if local(element.tag) == "EncryptionMethod":
                enc_algo = element.get("Algorithm", "").rpartition("#")[2]
                if enc_algo != "aes128-cbc":
                    raise Refused(f"The algorithm {enc_algo} is not supported")
            elif local(element.tag) == "CipherData":
                mac_key = aes_cbc_decrypt(key, (element[0].text or "").strip())
    tokens = {}
    for package in container.findall(ns + "KeyPackage"):
        xml_key = package.find(ns + "Key")
        assert xml_key is not None
        serial = xml_key.get("Id")
        device = package.find(ns + "DeviceInfo")
        if device is not None and len(device):
            serial = device.findtext(ns + "SerialNo")
        token: dict[str, Any] = {"type": xml_key.get("Algorithm", "").split(":")[-1].lower()}
        fields = {local(e.tag): e for e in xml_key.iter()}
        token["otplen"] = int(fields["ResponseFormat"].get("Length", ""))
        suite = fields["Suite"].text or ""
        suite = {"hmac-sha256": "sha256", "hmac-sha1": "sha1"}.get(suite.lower(), suite)
        known = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
        token["hashlib"] = suite.lower() if suite.lower() in known else "sha1"
        token["timeStep"] = int(fields["TimeInterval"].findtext(ns + "PlainValue") or "")
        if "EncryptedValue" in fields and enc_algo == "aes128-cbc":
            assert key is not None and mac_key is not None
            ciphertext = (fields["CipherValue"].text or "").strip()
            algorithm = fields["EncryptionMethod"].get("Algorithm", "").rpartition("#")[2]
            if algorithm != "aes128-cbc":
                raise Refused(f"The algorithm {algorithm} is not supported")
            mac = hmac.new(mac_key, base64.b64decode(ciphertext), hashlib.sha1).digest()
            if base64.b64encode(mac).decode() != (fields["ValueMAC"].text or "").strip():
                raise Refused(f"The MAC value for {serial} does not fit.")
            token["otpkey"] = aes_cbc_decrypt(key, ciphertext)
        elif "PlainValue" in {local(e.tag) for e in fields["Secret"]}:
            token["otpkey"] = base64.b64decode(fields["Secret"][0].text or "")
        else:
            continue  # encrypted under another algorithm: LinOTP logs a warning, imports none
        tokens[serial] = token
    return tokens


IMPORTERS = {"privacyIDEA": privacyidea_import, "LinOTP": linotp_import}


def codes(tokens: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each imported token's code at NOW, from what the importer read."""
    made = {}
    for serial, token in tokens.items():
        assert token["type"] == "totp"
        profile = Profile(token["otpkey"], token["hashlib"], token["otplen"], token["timeStep"])
        made[serial] = reference_code(profile)
    return made


@pytest.mark.parametrize("protection", PROTECTIONS)
@pytest.mark.parametrize("importer", IMPORTERS)
def test_default_export_gives_one_token_per_slot_with_the_slots_codes(importer, protection):
    tokens = IMPORTERS[importer](exported(protection, "privacyidea"), **PROTECTIONS[protection])
    assert codes(tokens) == {entry.key_id: reference_code(entry.profile) for entry in FLEET}


_NOT_HMAC_SHA1 = "The method http://www.w3.org/2001/04/xmldsig-more#hmac-sha256 is not supported"
# docs/provisioning.md's table, cell by cell: a plain file's hash as read for each device (its
# slots share one SerialNo, so one token per device is left), or the refusal of the whole file.
RFC6030_OUTCOMES: dict[tuple[str, str], dict[str, str] | str] = {
    ("privacyIDEA", "plain"): {"ba0000": "sha1", "ba0001": "sha1", "ba0002": "sha1"},
    ("privacyIDEA", "key"): {},  # the HMAC-SHA256 MACs do not check: nothing imported
    ("privacyIDEA", "password"): "We only import PSKC files with AES128-CBC.",
    ("LinOTP", "plain"): {"ba0000": "sha1", "ba0001": "sha256", "ba0002": "sha1"},
    ("LinOTP", "key"): _NOT_HMAC_SHA1,
    ("LinOTP", "password"): _NOT_HMAC_SHA1,
}


@pytest.mark.parametrize("protection", PROTECTIONS)
@pytest.mark.parametrize("importer", IMPORTERS)
def test_rfc6030_flavour_does_not_import_there(importer, protection):
    """What docs/provisioning.md's table says of the rfc6030 flavour, cell by cell: these
    importers keep one token per device (the last slot's secret), read SHA-256 or SHA-512 as
    SHA-1, import nothing, or refuse the file's protection."""
    expected = RFC6030_OUTCOMES[importer, protection]
    data = exported(protection, "rfc6030")
    if isinstance(expected, str):
        with pytest.raises(Refused) as refused:
            IMPORTERS[importer](data, **PROTECTIONS[protection])
        assert str(refused.value) == expected
        return
    tokens = IMPORTERS[importer](data, **PROTECTIONS[protection])
    assert {serial: token["hashlib"] for serial, token in tokens.items()} == expected
    last_slots = {entry.serial: entry.profile.secret for entry in FLEET if entry.slot == 3}
    assert {serial: token["otpkey"] for serial, token in tokens.items()} == {
        serial: last_slots[serial] for serial in expected
    }
