"""`baoling token` commands run as a person runs them, against the simulator (real firmware)."""

import json
import os
import threading

import pytest
from provisioning_sim import baoling, run_baoling, sim_token, wait_for_reference_code
from pskc import PSKC

from baoling.provisioning.otpauth import parse_uri
from baoling.provisioning.profile import Profile

# A website's QR code: issuer in label and parameter, URL-encoded label, lower-case base32.
WEBSITE_URI = (
    "otpauth://totp/Big%20Bank%3Aalice%40example.com?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq"
    "&issuer=Big%20Bank&algorithm=SHA256&digits=8&period=60&image=https%3A%2F%2Fb.example%2Fl.png"
)


@pytest.fixture
def token(tmp_path):
    with sim_token(tmp_path / "token") as (sim, tok):
        tok.link.close()  # the commands open the port themselves
        yield sim


def test_provision_from_a_website_uri_on_stdin_shows_the_right_code(token, tmp_path):
    keys = str(tmp_path / "keys.json")
    proc = baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--uri",
        "-",
        "--keys",
        keys,
        "--json",
        stdin=WEBSITE_URI + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["label"], result["issuer"], result["algorithm"]) == (
        "alice@example.com",
        "Big Bank",
        "sha256",
    )
    assert (result["digits"], result["period"], result["slot"]) == (8, 60, 0)
    assert abs(result["sync"]["offset_after_ms"]) < 50
    assert "secret" not in proc.stdout.lower()
    screen = wait_for_reference_code(token, parse_uri(WEBSITE_URI))
    assert screen["label"] == "Big Bank:alice@example.com"


def test_info_lists_the_profile_without_its_secret(token, tmp_path):
    baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--uri",
        "-",
        "--keys",
        str(tmp_path / "k"),
        stdin=WEBSITE_URI,
    )
    proc = baoling("token", "info", "--port", token.port, "--json")
    info = json.loads(proc.stdout)
    assert info["profiles"] == [
        {
            "slot": 0,
            "label": "alice@example.com",
            "issuer": "Big Bank",
            "algorithm": "sha256",
            "digits": 8,
            "period": 60,
        }
    ]
    assert info["free_slots"] == list(range(1, 32))
    text = baoling("token", "info", "--port", token.port).stdout
    assert "slot 0: Big Bank:alice@example.com SHA256, 8 digits, 60 s" in text
    assert "gezdgnbv" not in (proc.stdout + text).lower()


def test_new_secret_with_show_uri_prints_a_uri_that_gives_the_screen_code(token, tmp_path):
    proc = baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--label",
        "bob",
        "--issuer",
        "ACME",
        "--algorithm",
        "sha512",
        "--digits",
        "6",
        "--period",
        "30",
        "--show-uri",
        "--keys",
        str(tmp_path / "k"),
    )
    assert proc.returncode == 0, proc.stderr
    uri = next(line for line in proc.stdout.splitlines() if line.startswith("otpauth://"))
    profile = parse_uri(uri)
    assert (profile.algorithm, profile.label, profile.issuer) == ("sha512", "bob", "ACME")
    assert len(profile.secret) == 64
    assert "\u2588" in proc.stdout or "\u2580" in proc.stdout  # the terminal QR code
    wait_for_reference_code(token, profile)


def test_prove_accepts_the_written_secret_and_refuses_another(token, tmp_path):
    baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--uri",
        "-",
        "--keys",
        str(tmp_path / "k"),
        stdin=WEBSITE_URI,
    )
    good = baoling(
        "token",
        "prove",
        "--port",
        token.port,
        "--secret",
        "-",
        stdin="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
    )
    assert good.returncode == 0, good.stderr
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    assert good.stdout == f"Slot 0 of token {info['serial']} holds that secret.\n"
    bad = run_baoling(
        "token",
        "prove",
        "--port",
        token.port,
        "--secret",
        "-",
        stdin="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJR\n",
    )
    assert bad.returncode == 1
    assert bad.stderr == (
        f"Error: Slot 0 of the token on {token.port} does not hold that secret (its prove answer "
        "does not match).\n"
    )


def test_lock_then_sync_time_uses_the_stored_admin_key(token, tmp_path):
    keys = str(tmp_path / "keys.json")
    baoling(
        "token", "provision", "--port", token.port, "--uri", "-", "--keys", keys, stdin=WEBSITE_URI
    )
    locked = baoling("token", "lock", "--port", token.port, "--keys", keys, "--force")
    assert locked.returncode == 0, locked.stderr
    assert locked.stdout.endswith(f"locked; its admin key is in {keys}.\n")
    synced = baoling("token", "sync-time", "--port", token.port, "--keys", keys, "--json")
    assert synced.returncode == 0, synced.stderr
    assert abs(json.loads(synced.stdout)["offset_after_ms"]) < 50


def test_sync_time_on_a_locked_token_says_when_its_key_is_missing(token, tmp_path):
    baoling("token", "lock", "--port", token.port, "--keys", str(tmp_path / "a.json"), "--force")
    other = tmp_path / "b.json"
    proc = run_baoling("token", "sync-time", "--port", token.port, "--keys", str(other))
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: The token {info['serial']} is locked and {other} has no admin key for it: use "
        "the key file it was locked with (--keys FILE), or wipe the token.\n"
    )


def test_wipe_waits_for_the_button_and_erases(token, tmp_path):
    keys = str(tmp_path / "k")
    baoling(
        "token", "provision", "--port", token.port, "--uri", "-", "--keys", keys, stdin=WEBSITE_URI
    )
    baoling("token", "lock", "--port", token.port, "--keys", keys, "--force")

    def press_when_asked() -> None:
        token.wait_screen(lambda s: s.get("screen") == "wipe_confirm", timeout=20)
        token.press(1.5)

    presser = threading.Thread(target=press_when_asked)
    presser.start()
    proc = baoling("token", "wipe", "--port", token.port, "--force", "--json")
    presser.join()
    assert proc.returncode == 0, proc.stderr
    assert "Press and hold the token's button for 1 s to confirm the wipe" in proc.stderr
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    assert (info["state"], info["profiles"]) == ("empty", [])


def test_list_probes_the_given_port(token):
    proc = baoling("token", "list", "--port", token.port, "--json")
    [row] = json.loads(proc.stdout)["ports"]
    assert row["token"] and row["info"]["board"] == "sim" and row["port"] == token.port


@pytest.mark.parametrize("protection", ["key", "password"])
def test_provision_into_a_protected_pskc_file_that_python_pskc_reads(token, tmp_path, protection):
    pskc_path = tmp_path / "out.pskc"
    args = [
        "token",
        "provision",
        "--port",
        token.port,
        "--label",
        "erin",
        "--issuer",
        "ACME",
        "--digits",
        "8",
        "--period",
        "60",
        "--pskc",
        str(pskc_path),
        "--keys",
        str(tmp_path / "k"),
    ]
    env = dict(os.environ)
    aes_key = bytes(range(16))
    if protection == "key":
        (tmp_path / "aes.hex").write_text(aes_key.hex() + "\n")
        args += ["--pskc-key-file", str(tmp_path / "aes.hex")]
    else:
        env["BAOLING_PSKC_PASSWORD"] = "pskc password"
        args += ["--pskc-password"]
    proc = baoling(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    pskc = PSKC(str(pskc_path))
    if protection == "key":
        pskc.encryption.key = aes_key
    else:
        pskc.encryption.derive_key("pskc password")
    [key] = pskc.keys
    assert (key.friendly_name, key.issuer, key.response_length, key.time_interval) == (
        "erin",
        "ACME",
        8,
        60,
    )
    profile = Profile(key.secret, "sha1", 8, 60, "erin", "ACME")
    said = (proc.stdout + proc.stderr).lower()
    for form in (profile.secret_b32, profile.secret.hex()):
        assert form.lower() not in said
    assert profile.secret_b32.encode() not in token.device_output()
    wait_for_reference_code(token, profile)


def test_big_clock_jump_on_a_locked_token_waits_for_the_button(token, tmp_path):
    keys = str(tmp_path / "keys.json")
    baoling(
        "token",
        "provision",
        "--port",
        token.port,
        "--uri",
        "-",
        "--keys",
        keys,
        "--lock",
        stdin=WEBSITE_URI,
    )
    token.set_clock(offset_s=600)  # 10 minutes off: more than a locked token takes silently

    def press_when_asked() -> None:
        token.wait_screen(lambda s: s.get("screen") == "set_time", timeout=20)
        token.press(1.5)

    presser = threading.Thread(target=press_when_asked)
    presser.start()
    proc = baoling("token", "sync-time", "--port", token.port, "--keys", keys, "--json")
    presser.join()
    assert proc.returncode == 0, proc.stderr
    assert "Press and hold the token's button for 1 s to allow the clock change" in proc.stderr
    report = json.loads(proc.stdout)
    assert report["offset_before_ms"] > 599_000
    assert abs(report["offset_after_ms"]) < 50
