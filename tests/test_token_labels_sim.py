"""Labels in any script end to end: `baoling token provision` against the simulator (the real
firmware under MicroPython), the screen read back from the simulator's frame buffer.

Sources of truth: the host's rendering of the label line (provisioning/label_bitmap.py), which
the frame buffer must hold pixel for pixel; MicroPython's FrameBuffer.text for ASCII labels;
docs/protocol.md ("Versions") for what an old host and an old token get.
"""

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provisioning_sim import baoling, run_baoling, sim_token

from baoling.host_tools.simulator import FIRMWARE_DIR, Simulator
from baoling.provisioning import label_bitmap
from baoling.provisioning.label_bitmap import LabelBitmap, render
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.token import Token
from tests.micropython_runner import run_micropython
from tests.test_firmware_protocol_ops import TokenLink

SECRET_B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
CHINESE_URI = f"otpauth://totp/Bank:%E5%BC%A0%E4%B8%89?secret={SECRET_B32}&issuer=Bank"
W, H = 128, 64
CJK_HEAP_KB = 64  # issue 17's heap for every profile (docs/firmware-memory.md)


@pytest.fixture
def token(tmp_path: Path) -> Iterator[Simulator]:
    with sim_token(tmp_path / "token") as (sim, tok):
        tok.link.close()  # the commands open the port themselves
        yield sim


def frame(sim: Simulator) -> list[list[int]]:
    """The simulator's frame buffer (PBM P4: MONO_HLSB rows) as rows of pixels."""
    pbm = (sim.state_dir / ".sim" / "screen.pbm").read_bytes()
    header = b"P4\n128 64\n"
    assert pbm.startswith(header)
    data = pbm[len(header) :]
    return [[data[y * 16 + x // 8] >> (7 - x % 8) & 1 for x in range(W)] for y in range(H)]


def label_rows(bitmap: LabelBitmap) -> list[list[int]]:
    """Rows 0..13 of a screen showing bitmap at the top left (one profile: nothing cut)."""
    return [
        [bitmap.pixel(x, y) if x < bitmap.width and y < bitmap.height else 0 for x in range(W)]
        for y in range(14)
    ]


def font_rows(text: str) -> list[list[int]]:
    """FrameBuffer.text's own rendering of text at (0, 0), 14 rows (rows 8..13 blank)."""
    code = (
        "import framebuf\nbuf = bytearray(16 * 14)\n"
        "fb = framebuf.FrameBuffer(buf, 128, 14, framebuf.MONO_HLSB)\n"
        f"fb.text({text!r}, 0, 0, 1)\nprint(buf.hex())\n"
    )
    data = bytes.fromhex(run_micropython(code).strip())
    return [[data[y * 16 + x // 8] >> (7 - x % 8) & 1 for x in range(W)] for y in range(14)]


def wait_label(sim: Simulator, label: str) -> None:
    """Until the code screen with label is up (its frame is written before it is published)."""
    sim.wait_screen(lambda s: s.get("screen") == "code" and s.get("label") == label)


def provision(port: str, uri: str, tmp_path: Path, *extra: str):
    return baoling(
        "token",
        "provision",
        "--port",
        port,
        "--uri",
        "-",
        "--keys",
        str(tmp_path / "keys.json"),
        "--json",
        *extra,
        stdin=uri + "\n",
    )


def test_a_chinese_label_from_an_otpauth_uri_is_shown_as_the_host_rendered_it(token, tmp_path):
    proc = provision(token.port, CHINESE_URI, tmp_path)
    assert proc.returncode == 0, (proc.stderr, proc.exception)
    assert (json.loads(proc.stdout)["label"], json.loads(proc.stdout)["issuer"]) == ("张三", "Bank")
    wait_label(token, "Bank:张三")
    shown = frame(token)
    assert shown[:14] == label_rows(render("Bank:张三"))
    info = baoling("token", "info", "--port", token.port, "--json")
    profiles = json.loads(info.stdout)["profiles"]
    assert [(p["label"], p["issuer"]) for p in profiles] == [("张三", "Bank")]


def test_an_ascii_label_is_still_drawn_with_the_font(token, tmp_path):
    uri = f"otpauth://totp/ACME:alice?secret={SECRET_B32}&issuer=ACME"
    proc = provision(token.port, uri, tmp_path)
    assert proc.returncode == 0, (proc.stderr, proc.exception)
    wait_label(token, "ACME:alice")
    assert frame(token)[:14] == font_rows("ACME:alice")
    assert not (token.state_dir / "bl0.lbl").exists()


def test_bad_bitmaps_on_the_link_are_refused_and_the_token_keeps_running(token, tmp_path):
    assert provision(token.port, CHINESE_URI, tmp_path).returncode == 0
    wait_label(token, "Bank:张三")
    before = frame(token)[:14]
    pid = token.pid
    link = TokenLink(token)
    try:
        info = link.ok("info")
        bad = [
            ({"slot": 0, "width": 8, "height": 2, "bitmap": "ff"}, "bad_args"),
            ({"slot": 0, "width": 8, "height": 2, "bitmap": "xyxy"}, "bad_args"),
            ({"slot": 0, "width": 200, "height": 2, "bitmap": "ff" * 50}, "bad_args"),
            ({"slot": 0, "width": 8, "height": 1, "bitmap": "ff"}, "label_refused"),
        ]
        for args, code in bad:
            assert link.refused("profile.label", args)[0] == code
        assert link.ok("info")["profiles"] == info["profiles"]
    finally:
        link.close()
    assert token.pid == pid
    assert frame(token)[:14] == before


def test_an_old_host_speaking_version_1_is_answered_as_before(token):
    link = TokenLink(token)  # sends "v": 1, as hosts written for version 1 do
    try:
        assert link.ok("info")["protocol"] == 3
        link.set_time(int(time.time() * 1000))
        link.write(0, b"old-host-secret-0123", label="alice")
    finally:
        link.close()
    wait_label(token, "alice")
    assert frame(token)[:14] == font_rows("alice")


@pytest.fixture
def old_token(tmp_path: Path) -> Iterator[Simulator]:
    """A token whose firmware speaks protocol 1 only: today's firmware with its versions set
    back to 0.1.0 and 1, so its info says 1 and it refuses every later request (bad_version)."""
    firmware = tmp_path / "firmware-v1"
    shutil.copytree(FIRMWARE_DIR, firmware, ignore=shutil.ignore_patterns("__pycache__"))
    protocol = firmware / "protocol.py"
    text = protocol.read_text()
    assert "VERSION = const(3)" in text
    protocol.write_text(text.replace("VERSION = const(3)", "VERSION = const(1)"))
    device = firmware / "device.py"
    text = device.read_text()
    pattern = r'^_FIRMWARE = const\("[^"]+"\)'
    assert re.search(pattern, text, re.M)
    device.write_text(re.sub(pattern, '_FIRMWARE = const("0.1.0")', text, flags=re.M))
    with Simulator(tmp_path / "old", firmware_dir=firmware) as sim:
        yield sim


def test_a_new_host_refuses_a_chinese_label_for_an_old_token_before_touching_it(
    old_token, tmp_path
):
    proc = run_baoling(
        "token",
        "provision",
        "--port",
        old_token.port,
        "--uri",
        "-",
        "--keys",
        str(tmp_path / "keys.json"),
        stdin=CHINESE_URI + "\n",
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: The token on {old_token.port} runs firmware 0.1.0 (protocol 1), which shows "
        "ASCII labels only: update it (`baoling token flash`) to show 'Bank:张三', or use an "
        "ASCII label.\n"
    )
    info = json.loads(baoling("token", "info", "--port", old_token.port, "--json").stdout)
    assert (info["protocol"], info["profiles"], info["clock_trusted"]) == (1, [], False)


def test_a_new_host_writes_an_ascii_label_to_an_old_token_in_version_1(old_token, tmp_path):
    uri = f"otpauth://totp/ACME:bob?secret={SECRET_B32}&issuer=ACME"
    proc = provision(old_token.port, uri, tmp_path)
    assert proc.returncode == 0, (proc.stderr, proc.exception)
    wait_label(old_token, "ACME:bob")
    assert frame(old_token)[:14] == font_rows("ACME:bob")


def test_a_label_too_wide_for_the_line_is_refused_before_the_token_is_touched(token, tmp_path):
    wide = "张" * 20
    proc = provision(token.port, f"otpauth://totp/{wide}?secret={SECRET_B32}", tmp_path)
    assert proc.returncode == 1
    assert re.fullmatch(
        f"Label '{wide}' is \\d+x\\d+ pixels even at 10 px; a token's label line holds "
        "128x12: shorten the label or the issuer.",
        str(proc.exception),
    )
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    assert (info["profiles"], info["clock_trusted"]) == ([], False)


def test_no_font_installed_is_one_clear_error(token, tmp_path, monkeypatch):
    monkeypatch.setattr(label_bitmap, "FONTS", (("No Such Font", str(tmp_path / "none.ttc")),))
    proc = provision(token.port, CHINESE_URI, tmp_path)
    assert proc.returncode == 1
    assert str(proc.exception) == (
        "No font for labels in other scripts is installed: install Debian's fonts-wqy-zenhei "
        "(sudo apt-get install fonts-wqy-zenhei), or use an ASCII label."
    )
    info = json.loads(baoling("token", "info", "--port", token.port, "--json").stdout)
    assert info["profiles"] == []


def test_four_chinese_profiles_are_written_and_shown_in_a_small_heap(tmp_path):
    """A token whose every label is a bitmap (labels.py loaded), one profile on the SHA-512
    fallback, in CJK_HEAP_KB of heap."""
    names = ["张三", "李四", "王五", "赵六"]
    algorithms = ["sha1", "sha256", "sha512", "sha1"]
    heap = f"{CJK_HEAP_KB}k"
    with (
        Simulator(tmp_path / "token", heap=heap, probe_heap=True, compiled=True) as sim,
        Link(sim.port) as link,
    ):
        tok = Token(link)
        pid = sim.pid
        link.call("time.set", {"time_ms": int(time.time() * 1000)})
        for slot, (name, algorithm) in enumerate(zip(names, algorithms, strict=True)):
            secret = os.urandom(64 if algorithm == "sha512" else 32)
            profile = Profile(secret, algorithm, label=name, issuer="工商银行")
            tok.write(slot, profile, render(f"工商银行:{name}"))
            tok.prove(slot, profile)
        for name in names:
            wait_label(sim, f"工商银行:{name}")
            bitmap = render(f"工商银行:{name}")
            assert bitmap.width <= 96  # nothing cut by the indicator "n/4" at column 104
            shown = [row[:104] for row in frame(sim)[:14]]
            assert shown == [row[:104] for row in label_rows(bitmap)]
            sim.press(0.1)
        assert sim.pid == pid
        output = sim.device_output()
        peak = sim.heap_peak()
    assert b"MemoryError" not in output and b"Traceback" not in output
    assert 0 < peak["peak"] < CJK_HEAP_KB * 1024
