"""firmware/store.py under real MicroPython: slots, atomic writes, corruption, encryption at rest.

Sources of truth: the issues' store requirements (32 slots, issue 17; write-new-then-rename so a
killed process leaves the old or the new profile; a checksum so corruption is reported, not
crashed on; cryptolib AES at rest) and pyotp for the codes a stored profile gives.
Each MicroPython run works in the test's tmp_path, the device's "flash".
"""

import base64
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyotp

from baoling.host_tools.micropython import find_micropython
from baoling.host_tools.simulator import Simulator
from tests.micropython_runner import FIRMWARE_DIR, run_micropython

UID = "0102030405060708"
SECRET_A = b"store-secret-AAAA-0123456789"
SECRET_B = b"store-secret-BBBB-9876543210"
T = 1795000000  # 2026-11-18, a time after the firmware's build date

_OPEN = """\
import json
from binascii import unhexlify
import store
st = store.Store(".", unhexlify({uid!r}){encrypt})
st.load()
def report():
    return {{
        "profiles": list(st.profiles()),
        "codes": {{str(s): st.code(s, {t}) for s in st.usable}},
        "corrupt": st.corrupt(),
        "settings_corrupt": st.settings_corrupt,
        "locked": st.locked,
        "state": st.state(),
        "free": st.free_slots(),
        "encrypted": st.encrypted,
    }}
"""


def run_store(folder: Path, body: str, uid: str = UID, encrypt: bool | None = None) -> dict:
    flag = "" if encrypt is None else f", encrypt={encrypt}"
    code = _OPEN.format(uid=uid, encrypt=flag, t=T) + body + "print(json.dumps(report()))\n"
    return json.loads(run_micropython(code, cwd=folder).strip().splitlines()[-1])


def write_line(slot: int, secret: bytes, label: str, **kw: object) -> str:
    params = {"algorithm": "sha1", "digits": 6, "period": 30, "issuer": "ACME", **kw}
    return (
        f"st.write({slot}, {secret!r}, {params['algorithm']!r}, {params['digits']}, "
        f"{params['period']}, {label!r}, {params['issuer']!r})\n"
    )


def totp(secret: bytes, **kw: object) -> str:
    import hashlib

    digest = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
    algorithm = str(kw.get("algorithm", "sha1"))
    return pyotp.TOTP(
        base64.b32encode(secret).decode(),
        digits=int(kw.get("digits", 6)),  # type: ignore[arg-type]
        interval=int(kw.get("period", 30)),  # type: ignore[arg-type]
        digest=digest[algorithm],
    ).at(T)


def test_four_slots_round_trip_through_flash_and_give_pyotp_codes(tmp_path: Path) -> None:
    specs = [
        (0, SECRET_A, "alice", {}),
        (1, SECRET_B, "bob", {"algorithm": "sha256", "digits": 8, "period": 60}),
        (2, b"0123456789abcd", "fourteen", {"period": 10, "digits": 7}),
        (3, bytes(range(64)), "sixty-four", {"algorithm": "sha512"}),
    ]
    body = "".join(write_line(s, k, label, **kw) for s, k, label, kw in specs)
    run_store(tmp_path, body)
    after = run_store(tmp_path, "")  # a new boot reads flash
    assert after["profiles"] == [
        {
            "slot": s,
            "label": label,
            "issuer": "ACME",
            "algorithm": kw.get("algorithm", "sha1"),
            "digits": kw.get("digits", 6),
            "period": kw.get("period", 30),
        }
        for s, _, label, kw in specs
    ]
    assert after["codes"] == {str(s): totp(k, **kw) for s, k, _, kw in specs}
    assert after["free"] == list(range(4, 32)) and after["state"] == "provisioned"
    assert not after["corrupt"]


def secret_forms(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b32encode(secret),
        base64.b32encode(secret).rstrip(b"=").lower(),
    ]


def test_secrets_are_encrypted_at_rest_when_cryptolib_is_there(tmp_path: Path) -> None:
    assert run_store(tmp_path, write_line(0, SECRET_A, "alice"))["encrypted"]
    files = [p for p in tmp_path.iterdir() if p.name.startswith("bl")]
    assert [p.name for p in files] == ["bl0.dat"]
    data = files[0].read_bytes()
    assert data[:5] == b"BLS1\x01"  # magic, then the AES flag
    for form in secret_forms(SECRET_A) + [b"alice"]:
        assert form not in data


def test_without_cryptolib_the_checksum_still_guards_a_plain_file(tmp_path: Path) -> None:
    # The same test without encryption finds the secret: the check above is not vacuous.
    run_store(tmp_path, write_line(0, SECRET_A, "alice"), encrypt=False)
    data = (tmp_path / "bl0.dat").read_bytes()
    assert data[:5] == b"BLS1\x00" and SECRET_A.hex().encode() in data
    plain = run_store(tmp_path, "")
    assert plain["codes"] == {"0": totp(SECRET_A)}
    (tmp_path / "bl0.dat").write_bytes(data.replace(b'"d": 6', b'"d": 8'))
    edited = run_store(tmp_path, "")
    assert edited["profiles"] == [{"slot": 0, "corrupt": True}] and edited["codes"] == {}


def provision_two(folder: Path) -> None:
    run_store(folder, write_line(0, SECRET_A, "alice") + write_line(1, SECRET_B, "bob"))


def test_a_flipped_byte_marks_only_that_slot_corrupt(tmp_path: Path) -> None:
    provision_two(tmp_path)
    path = tmp_path / "bl1.dat"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    got = run_store(tmp_path, "")
    assert got["profiles"][1] == {"slot": 1, "corrupt": True}
    assert got["codes"] == {"0": totp(SECRET_A)}
    assert got["corrupt"] and got["free"] == list(range(2, 32)) and got["state"] == "provisioned"


def test_truncated_empty_garbage_and_swapped_files_are_corrupt(tmp_path: Path) -> None:
    provision_two(tmp_path)
    a = (tmp_path / "bl0.dat").read_bytes()
    b = (tmp_path / "bl1.dat").read_bytes()
    (tmp_path / "bl0.dat").write_bytes(b)  # a valid file under another slot's name
    (tmp_path / "bl1.dat").write_bytes(a[:-1])
    (tmp_path / "bl2.dat").write_bytes(b"")
    (tmp_path / "bl3.dat").write_bytes(os.urandom(3000))
    got = run_store(tmp_path, "")
    assert got["profiles"] == [{"slot": s, "corrupt": True} for s in range(4)]
    assert got["codes"] == {} and got["free"] == list(range(4, 32))


def test_files_do_not_open_on_a_board_with_another_unique_id(tmp_path: Path) -> None:
    provision_two(tmp_path)
    got = run_store(tmp_path, "", uid="0102030405060709")
    assert got["profiles"] == [{"slot": 0, "corrupt": True}, {"slot": 1, "corrupt": True}]


def test_writing_or_erasing_a_corrupt_slot_repairs_it(tmp_path: Path) -> None:
    provision_two(tmp_path)
    (tmp_path / "bl0.dat").write_bytes(b"junk")
    (tmp_path / "bl1.dat").write_bytes(b"junk")
    got = run_store(tmp_path, write_line(0, SECRET_B, "new") + "st.erase(1)\n")
    assert got["codes"] == {"0": totp(SECRET_B)} and not got["corrupt"]
    assert got["free"] == list(range(1, 32))


def test_a_corrupt_settings_file_fails_closed_as_locked(tmp_path: Path) -> None:
    run_store(tmp_path, "st.set_clock(12500, 1795000000000)\n")
    (tmp_path / "blset.dat").write_bytes(b"BLS1" + os.urandom(80))
    got = run_store(tmp_path, "")
    assert got["settings_corrupt"] and got["locked"] and got["state"] == "locked"
    wiped = run_store(tmp_path, "st.wipe()\n")
    assert not wiped["locked"] and wiped["state"] == "empty" and not wiped["corrupt"]


def test_settings_keep_lock_drift_and_sync_and_the_admin_key_only_checks_macs(
    tmp_path: Path,
) -> None:
    key = bytes(range(32))
    run_store(tmp_path, f"st.set_lock({key!r})\nst.set_clock(-2500, 1795000000123)\n")
    import hashlib
    import hmac

    good = hmac.new(key, b"message", hashlib.sha256).digest()
    code = _OPEN.format(uid=UID, encrypt="", t=T) + (
        "print(json.dumps([st.locked, st.drift_ppb, st.synced_ms, "
        f"st.admin_mac_ok(b'message', {good!r}), st.admin_mac_ok(b'messagE', {good!r}), "
        f"st.admin_mac_ok(b'message', {good[:-1]!r})]))\n"
    )
    got = json.loads(run_micropython(code, cwd=tmp_path))
    assert got == [True, -2500, 1795000000123, True, False, False]
    for form in secret_forms(key):
        assert form not in (tmp_path / "blset.dat").read_bytes()


def test_a_write_cut_before_its_rename_leaves_the_old_profile(tmp_path: Path) -> None:
    provision_two(tmp_path)
    (tmp_path / "bl0.dat.new").write_bytes(b"half a file")
    got = run_store(tmp_path, "")
    assert got["codes"] == {"0": totp(SECRET_A), "1": totp(SECRET_B)}
    assert not (tmp_path / "bl0.dat.new").exists()


_WRITER = """\
import sys
sys.path.insert(0, {firmware!r})
from binascii import unhexlify
import store
st = store.Store(".", unhexlify({uid!r}))
st.load()
print("ready")
sys.stdout.flush() if hasattr(sys.stdout, "flush") else None
n = 0
while True:
    n += 1
    if n % 2:
        st.write(0, {b!r}, "sha256", 8, 60, "new", "B")
    else:
        st.write(0, {a!r}, "sha1", 6, 30, "old", "A")
"""


def test_killing_the_process_at_many_points_of_a_write_leaves_old_or_new(
    tmp_path: Path,
) -> None:
    run_store(tmp_path, write_line(0, SECRET_A, "old", issuer="A"))
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(firmware=str(FIRMWARE_DIR), uid=UID, a=SECRET_A, b=SECRET_B))
    old = {"slot": 0, "label": "old", "issuer": "A", "algorithm": "sha1", "digits": 6, "period": 30}
    new = {
        "slot": 0,
        "label": "new",
        "issuer": "B",
        "algorithm": "sha256",
        "digits": 8,
        "period": 60,
    }
    seen = set()
    for i in range(40):
        child = subprocess.Popen(
            [find_micropython(), str(script)], cwd=tmp_path, stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(i * 0.0007)
        child.send_signal(signal.SIGKILL)
        child.wait()
        got = run_store(tmp_path, "")
        assert not got["corrupt"], f"kill {i} left a broken store"
        if got["profiles"] == [old]:
            assert got["codes"] == {"0": totp(SECRET_A)}
            seen.add("old")
        else:
            assert got["profiles"] == [new]
            assert got["codes"] == {"0": totp(SECRET_B, algorithm="sha256", digits=8, period=60)}
            seen.add("new")
    assert seen == {"old", "new"}


def test_cutting_the_simulators_power_during_profile_writes_leaves_old_or_new(
    tmp_path: Path,
) -> None:
    """The same property through the whole firmware: sim.kill() at increasing delays."""
    from tests.test_firmware_protocol_ops import TokenLink, prove_mac

    versions = {
        "old": (SECRET_A, {"label": "old", "issuer": "A", "algorithm": "sha1", "digits": 6}),
        "new": (SECRET_B, {"label": "new", "issuer": "B", "algorithm": "sha256", "digits": 8}),
    }
    challenge = bytes(range(32))
    with Simulator(tmp_path / "token") as sim:
        link = TokenLink(sim)
        link.write(0, SECRET_A, **versions["old"][1])
        seen = set()
        for i in range(24):
            target = "new" if i % 2 == 0 else "old"
            secret, fields = versions[target]
            link.begin(
                "profile.write",
                {"slot": 0, "secret": base64.b32encode(secret).decode(), **fields},
            )
            time.sleep(i * 0.002)
            sim.kill()
            sim.restart()
            info = link.ok("info")
            assert info["store"] == "ok", f"cut {i} left a broken store"
            [profile] = info["profiles"]
            name = profile["label"]
            seen.add(name)
            secret, fields = versions[name]
            assert profile == {"slot": 0, "period": 30, **fields}
            mac = link.ok("profile.prove", {"slot": 0, "challenge": challenge.hex()})["mac"]
            assert mac == prove_mac(secret, challenge, fields["algorithm"])
        link.close()
    assert seen == {"old", "new"}
