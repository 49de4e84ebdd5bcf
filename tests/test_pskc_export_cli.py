"""`baoling token provision --pskc`: the flavour chosen on the command line reaches the file, and a
key the flavour cannot use is refused before the token is touched."""

import json

import pytest
from provisioning_sim import baoling, run_baoling, sim_token
from pskc import PSKC

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    with sim_token(tmp_path_factory.mktemp("sim") / "token") as (sim, tok):
        serial = tok.serial
        tok.link.close()
        yield sim, serial


def info(port: str) -> dict:
    """What the token holds and how it is set, without its clocks."""
    shown = json.loads(baoling("token", "info", "--port", port, "--json").stdout)
    return {k: v for k, v in shown.items() if k not in ("time_ms", "uptime_ms")}


def provision(port: str, tmp_path, key: bytes, *flavour: str, slot: str = "0") -> object:
    (tmp_path / "transport.hex").write_text(key.hex() + "\n")
    return run_baoling(
        "token", "provision", "--port", port, "--slot", slot, "--secret", SECRET,
        "--keys", str(tmp_path / "keys.json"), "--pskc", str(tmp_path / "out.pskc"),
        "--pskc-key-file", str(tmp_path / "transport.hex"), *flavour,
    )  # fmt: skip


def test_a_key_the_default_flavour_cannot_use_leaves_the_token_untouched(token, tmp_path):
    sim, _ = token
    before = info(sim.port)
    proc = provision(sim.port, tmp_path, bytes(range(32)))
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1,
        "",
        "Error: The PSKC key must be 16 bytes: privacyIDEA and LinOTP decrypt AES-128 only "
        "(the rfc6030 flavour also takes 24 or 32).\n",
    )
    assert info(sim.port) == before
    assert not (tmp_path / "out.pskc").exists()


@pytest.mark.parametrize(
    ("key", "flavour", "slot", "suite", "serial_no"),
    [
        (bytes(range(16)), (), "1", "sha1", "{serial}-1"),
        (bytes(range(32)), ("--pskc-flavour", "rfc6030"), "2", "HMAC-SHA1", "{serial}"),
        (bytes(range(16)), ("--flavour", "rfc6030"), "3", "HMAC-SHA1", "{serial}"),
    ],
    ids=["default", "rfc6030", "--flavour"],
)
def test_the_flavour_reaches_the_file(token, tmp_path, key, flavour, slot, suite, serial_no):
    sim, serial = token
    proc = provision(sim.port, tmp_path, key, *flavour, slot=slot)
    assert proc.returncode == 0, proc.stderr
    pskc = PSKC(str(tmp_path / "out.pskc"))
    pskc.encryption.key = key
    assert pskc.encryption.key_names == ["transport.hex"]
    [written] = pskc.keys
    assert (written.id, written.serial, written.algorithm_suite) == (
        f"{serial}-{slot}",
        serial_no.format(serial=serial),
        suite,
    )
    assert written.secret == bytes.fromhex("3132333435363738393031323334353637383930")
