"""A value of the wrong type in any typed element or attribute of a PSKC file (RFC 6030's
xs:int, xs:boolean and xs:dateTime fields, and the XML declaration's encoding) is refused with
one line naming what is wrong, by the Python API and as a 422 JSON error over HTTP, and nothing
of the file is imported. The file carries every typed field RFC 6030 defines for a key, on a
TOTP and an HOTP key, so a field python-pskc parses by itself is covered as well as those
verifier/pskc_import.py checks first; tests/test_pskc_import_vendors.py runs the CLI."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from baoling.verifier.errors import PSKCImportError
from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier

# Every field written with a marker ({name}) that a case replaces; the others take VALID.
TEMPLATE = """<?xml version="1.0" encoding="{encoding}"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo>
      <Manufacturer>Acme</Manufacturer><SerialNo>987654321</SerialNo>
      <StartDate>{device_start}</StartDate><ExpiryDate>{device_expiry}</ExpiryDate>
    </DeviceInfo>
    <Key Id="H1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
      <AlgorithmParameters>
        <Suite>HMAC-SHA1</Suite>
        <ChallengeFormat Encoding="DECIMAL" Min="{challenge_min}" Max="{challenge_max}"
          CheckDigits="{challenge_check}"/>
        <ResponseFormat Length="{length}" Encoding="DECIMAL" CheckDigits="{response_check}"/>
      </AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>
        <Counter><PlainValue>{counter}</PlainValue></Counter>
      </Data>
      <Policy>
        <StartDate>{policy_start}</StartDate><ExpiryDate>{policy_expiry}</ExpiryDate>
        <PINPolicy MinLength="{pin_min}" MaxLength="{pin_max}" PINUsageMode="Local"
          MaxFailedAttempts="{pin_attempts}"/>
        <KeyUsage>OTP</KeyUsage>
        <NumberOfTransactions>{transactions}</NumberOfTransactions>
      </Policy>
    </Key>
  </KeyPackage>
  <KeyPackage>
    <DeviceInfo><Manufacturer>Acme</Manufacturer><SerialNo>987654322</SerialNo></DeviceInfo>
    <Key Id="T1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <AlgorithmParameters><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>
        <Time><PlainValue>{time}</PlainValue></Time>
        <TimeInterval><PlainValue>{interval}</PlainValue></TimeInterval>
        <TimeDrift><PlainValue>{drift}</PlainValue></TimeDrift>
      </Data>
    </Key>
  </KeyPackage>
</KeyContainer>
"""
VALID = {
    "encoding": "UTF-8",
    "device_start": "2006-05-01T00:00:00Z",
    "device_expiry": "2036-05-31T00:00:00Z",
    "challenge_min": "4",
    "challenge_max": "8",
    "challenge_check": "false",
    "length": "6",
    "response_check": "false",
    "counter": "3",
    "policy_start": "2006-05-01T00:00:00Z",
    "policy_expiry": "2036-05-31T00:00:00Z",
    "pin_min": "4",
    "pin_max": "8",
    "pin_attempts": "5",
    "transactions": "12",
    "time": "0",
    "interval": "30",
    "drift": "2",
}
INTEGERS = ["challenge_min", "challenge_max", "length", "pin_min", "pin_max", "pin_attempts"]
INTEGERS += ["transactions"]
DATA_INTEGERS = {"counter": ("H1", "Counter"), "time": ("T1", "Time")}
DATA_INTEGERS |= {"interval": ("T1", "TimeInterval"), "drift": ("T1", "TimeDrift")}
BOOLEANS = ["challenge_check", "response_check"]
DATES = ["device_start", "device_expiry", "policy_start", "policy_expiry"]
WRONG = "cannot read the PSKC file: a value has the wrong type"


def cases() -> Iterator[tuple[str, str, str]]:
    """(field, bad value, the one line expected) for every typed field and several values."""
    for field in INTEGERS:
        for bad in ("TWELVE", "1.5", "12 apples", "true"):
            yield field, bad, f"{WRONG} ({bad!r} is not a whole number)"
    for field, (key, name) in DATA_INTEGERS.items():
        for bad in ("TWELVE", "1.5", "TWELVE12", "0x10"):
            yield field, bad, f"key {key!r} has a {name} that is not a whole number"
    for field in BOOLEANS:
        for bad in ("twelve", "maybe", "yes"):
            yield field, bad, f"{WRONG} (invalid boolean value: {bad!r})"
    for field in DATES:
        for bad in ("TWELVE", "yesterday"):
            yield field, bad, f"{WRONG} (unknown string format: {bad})"
        yield field, "9" * 23, "cannot read the PSKC file: a date is out of range"
    for bad in ("TWELVE", "UTF-9"):
        yield "encoding", bad, f"cannot read the PSKC file: unknown encoding: {bad}"


CASES = [pytest.param(f, b, m, id=f"{f}={b}") for f, b, m in cases()]


def document(**changed: str) -> bytes:
    return TEMPLATE.format(**VALID | changed).encode()


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    opened = Verifier(data_dir=tmp_path_factory.mktemp("types"))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(verifier: Verifier) -> tuple[TestClient, dict[str, str]]:
    key = verifier.create_api_key("ops", ["admin"])
    return TestClient(create_app(verifier)), {"Authorization": f"Bearer {key}"}


def test_the_file_with_every_typed_field_valid_imports(tmp_path):
    """The cases below fail because of the one value they change, not the rest of the file."""
    fresh = Verifier(data_dir=tmp_path)
    try:
        assert fresh.import_pskc(document()) == ["H1", "T1"]
        assert fresh.show("T1")["drift"]["offset_s"] == 60
    finally:
        fresh.close()


@pytest.mark.parametrize(("field", "bad", "message"), CASES)
def test_a_wrong_type_is_refused_by_the_library_and_nothing_imported(verifier, field, bad, message):
    with pytest.raises(PSKCImportError) as refused:
        verifier.import_pskc(document(**{field: bad}))
    assert str(refused.value) == message
    assert verifier.list_tokens() == []


@pytest.mark.parametrize(("field", "bad", "message"), CASES)
def test_a_wrong_type_is_a_422_json_error_over_http(verifier, client, field, bad, message):
    http, auth = client
    response = http.post("/v1/pskc", json={"pskc": document(**{field: bad}).decode()}, headers=auth)
    assert (response.status_code, response.json()) == (
        422,
        {"error": "invalid_pskc", "message": message},
    )
    assert http.get("/v1/tokens", headers=auth).json() == {"tokens": []}
