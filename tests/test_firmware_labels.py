"""Label bitmaps in the firmware, under real MicroPython: store, profile.label and the screen.

Sources of truth: the host's own rendering (provisioning/label_bitmap.py, Pillow with
WenQuanYi Zen Hei Sharp) which the screen must show pixel for pixel, MicroPython's
FrameBuffer.text for labels the font draws, and docs/protocol.md for the answers of
profile.label. Each MicroPython run works in the test's tmp_path, the device's flash.
"""

import json
from pathlib import Path

import pytest

from baoling.provisioning.label_bitmap import LabelBitmap, render
from tests.micropython_runner import run_micropython

UID = "0102030405060708"
SECRET_B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
T = 1795000000  # a time after the firmware's build date
W, H = 128, 64

_OPEN = """\
import json, os
import framebuf
from binascii import unhexlify
import device, display, protocol, store


class Hw:
    name = "sim"

    def unique_id(self):
        return unhexlify({uid!r})


class Screen(framebuf.FrameBuffer):
    def __init__(self):
        self.buf = bytearray(128 * 64 // 8)
        super().__init__(self.buf, 128, 64, framebuf.MONO_HLSB)

    def show(self):
        pass


st = store.Store(".", unhexlify({uid!r}))
st.load()
dev = device.Device(Hw(), st, None)
out = {{}}


def op(name, args):
    try:
        return {{"ok": dev.handle(name, args)}}
    except protocol.Refused as e:
        return {{"error": e.code, "message": e.message}}


def frame(slot, label, slots=1):
    fb = Screen()
    display.Display(fb).show_code(st.code(slot, {t}), label, 20, 30, 0, slots, st.label(slot))
    return fb.buf.hex()


def files():
    found = {{}}
    for name in sorted(os.listdir(".")):
        if name.startswith("bl"):
            with open(name, "rb") as f:
                found[name] = f.read().hex()
    return found
"""


def run(folder: Path, body: str) -> dict:
    code = _OPEN.format(uid=UID, t=T) + body + "print(json.dumps(out))\n"
    return json.loads(run_micropython(code, cwd=folder).strip().splitlines()[-1])


def write_args(slot: int, label: str, issuer: str = "") -> str:
    return repr({"slot": slot, "secret": SECRET_B32, "label": label, "issuer": issuer})


def label_args(slot: int, bitmap: LabelBitmap) -> str:
    args = {"slot": slot, "width": bitmap.width, "height": bitmap.height}
    return repr(args | {"bitmap": bitmap.rows.hex()})


def pixels(frame_hex: str) -> list[list[int]]:
    data = bytes.fromhex(frame_hex)
    return [[data[y * 16 + x // 8] >> (7 - x % 8) & 1 for x in range(W)] for y in range(H)]


def font_text(text: str) -> list[list[int]]:
    """FrameBuffer.text's own rendering of text at (0, 0) on a blank 128x8 strip."""
    code = (
        "import framebuf\nbuf = bytearray(128)\n"
        "fb = framebuf.FrameBuffer(buf, 128, 8, framebuf.MONO_HLSB)\n"
        f"fb.text({text!r}, 0, 0, 1)\nprint(buf.hex())\n"
    )
    data = bytes.fromhex(run_micropython(code).strip())
    return [[data[y * 16 + x // 8] >> (7 - x % 8) & 1 for x in range(W)] for y in range(8)]


def expected_label_rows(bitmap: LabelBitmap, right: int = W) -> list[list[int]]:
    """Rows 0..13 as the host drew them: the bitmap at the top left, cut at column right."""
    return [
        [
            bitmap.pixel(x, y) if x < min(bitmap.width, right) and y < bitmap.height else 0
            for x in range(W)
        ]
        for y in range(14)
    ]


def test_a_chinese_label_is_shown_pixel_for_pixel_as_the_host_rendered_it(tmp_path):
    bitmap = render("Bank:张三")
    out = run(
        tmp_path,
        f"out['write'] = op('profile.write', {write_args(0, '张三', 'Bank')})\n"
        f"out['label'] = op('profile.label', {label_args(0, bitmap)})\n"
        "out['frame'] = frame(0, 'Bank:张三')\n"
        "out['plain'] = frame(0, '')\n",
    )
    assert out["write"]["ok"]["profile"]["label"] == "张三"
    assert out["label"] == {"ok": {"slot": 0, "width": bitmap.width, "height": bitmap.height}}
    shown = pixels(out["frame"])
    assert shown[:14] == expected_label_rows(bitmap)
    assert any(any(row) for row in shown[:12])
    assert shown[14:] == pixels(out["plain"])[14:]  # the code and the bar are untouched


def test_with_several_profiles_the_bitmap_is_cut_before_the_slot_indicator(tmp_path):
    bitmap = render("Bank:张三张三张三张三")
    assert bitmap.width > 96  # reaches under the indicator "1/2" and its gap
    out = run(
        tmp_path,
        f"op('profile.write', {write_args(0, '张三张三张三张三', 'Bank')})\n"
        f"op('profile.label', {label_args(0, bitmap)})\n"
        "out['frame'] = frame(0, 'Bank:张三张三张三张三', slots=2)\n",
    )
    shown = pixels(out["frame"])
    indicator = font_text("1/2")
    for y in range(12):
        assert shown[y][:96] == expected_label_rows(bitmap, 96)[y][:96], y
        assert shown[y][96:104] == [0] * 8, y
        if y < 8:
            assert shown[y][104:] == indicator[y][:24], y


def test_an_ascii_label_keeps_the_font_and_takes_no_bitmap(tmp_path):
    out = run(
        tmp_path,
        f"op('profile.write', {write_args(0, 'alice', 'ACME')})\n"
        "out['label'] = st.label(0)\n"
        "out['frame'] = frame(0, 'ACME:alice')\n"
        "out['refused'] = op('profile.label', {'slot': 0, 'width': 8, 'height': 1, "
        "'bitmap': 'ff'})\n"
        "out['files'] = sorted(files())\n",
    )
    assert out["label"] is None
    shown = pixels(out["frame"])
    assert shown[:8] == font_text("ACME:alice")
    assert out["refused"] == {"error": "label_refused", "message": "slot 0 has an ASCII label"}
    assert out["files"] == ["bl0.dat"]


def test_a_line_without_its_bitmap_is_blank_never_garbled(tmp_path):
    out = run(
        tmp_path,
        f"op('profile.write', {write_args(0, 'Ωμέγα')})\nout['frame'] = frame(0, 'Ωμέγα')\n",
    )
    assert pixels(out["frame"])[:14] == [[0] * W] * 14


def test_the_bitmap_is_kept_across_restarts_and_removed_with_its_profile(tmp_path):
    bitmap = render("张三")
    first = run(
        tmp_path,
        f"op('profile.write', {write_args(0, '张三')})\n"
        f"op('profile.label', {label_args(0, bitmap)})\n"
        f"op('profile.write', {write_args(1, '李四')})\n"
        f"op('profile.label', {label_args(1, render('李四'))})\n"
        "out['files'] = sorted(files())\n",
    )
    assert first["files"] == ["bl0.dat", "bl0.lbl", "bl1.dat", "bl1.lbl"]
    restarted = run(
        tmp_path,
        "out['frame'] = frame(0, '张三')\n"
        # rewritten with an ASCII label: its bitmap goes first
        f"op('profile.write', {write_args(0, 'alice')})\n"
        "out['after_write'] = sorted(files())\n"
        "op('profile.erase', {'slot': 1})\n"
        "out['after_erase'] = sorted(files())\n",
    )
    assert pixels(restarted["frame"])[:14] == expected_label_rows(bitmap)
    assert restarted["after_write"] == ["bl0.dat", "bl1.dat", "bl1.lbl"]
    assert restarted["after_erase"] == ["bl0.dat"]


def test_wipe_removes_every_bitmap(tmp_path):
    out = run(
        tmp_path,
        f"op('profile.write', {write_args(2, '张三')})\n"
        f"op('profile.label', {label_args(2, render('张三'))})\n"
        "st.wipe()\n"
        "out['files'] = sorted(files())\n",
    )
    assert out["files"] == []


BAD_LABELS = [
    ({"width": 0, "height": 2, "bitmap": "ffff"}, "width must be an integer 1..128"),
    ({"width": 129, "height": 2, "bitmap": "ff" * 34}, "width must be an integer 1..128"),
    ({"width": 8, "height": 13, "bitmap": "ff" * 13}, "height must be an integer 1..12"),
    ({"width": 8, "height": True, "bitmap": "ff"}, "height must be an integer 1..12"),
    ({"width": 8, "height": 2, "bitmap": "ffffff"}, "bitmap must be 2 bytes in hex"),
    ({"width": 9, "height": 2, "bitmap": "ffff"}, "bitmap must be 4 bytes in hex"),
    ({"width": 8, "height": 2, "bitmap": "zzzz"}, "bitmap must be 2 bytes in hex"),
    ({"width": 8, "height": 2, "bitmap": 65535}, "bitmap must be 2 bytes in hex"),
    ({"width": 8, "height": 2}, "bitmap must be 2 bytes in hex"),
    ({"width": 8, "height": 2, "bitmap": "ffff", "x": 1}, "unknown arg: x"),
]


@pytest.mark.parametrize(("args", "message"), BAD_LABELS)
def test_a_bad_bitmap_is_refused_and_changes_nothing(tmp_path, args, message):
    bitmap = render("张三")
    out = run(
        tmp_path,
        f"op('profile.write', {write_args(0, '张三')})\n"
        f"op('profile.label', {label_args(0, bitmap)})\n"
        f"op('profile.write', {write_args(1, '李四')})\n"
        "before = files()\n"
        f"out['slot0'] = op('profile.label', {repr({'slot': 0} | args)})\n"
        f"out['slot1'] = op('profile.label', {repr({'slot': 1} | args)})\n"
        "out['same'] = files() == before\n"
        "out['frame'] = frame(0, '张三')\n",
    )
    assert out["slot0"] == {"error": "bad_args", "message": message}
    assert out["slot1"] == {"error": "bad_args", "message": message}
    assert out["same"]
    assert pixels(out["frame"])[:14] == expected_label_rows(bitmap)


def test_profile_label_refusals_name_the_slot(tmp_path):
    one = {"width": 8, "height": 1, "bitmap": "ff"}
    out = run(
        tmp_path,
        f"op('profile.write', {write_args(0, '张三')})\n"
        f"out['first'] = op('profile.label', {repr({'slot': 0} | one)})\n"
        f"out['again'] = op('profile.label', {repr({'slot': 0} | one)})\n"
        f"out['empty'] = op('profile.label', {repr({'slot': 2} | one)})\n"
        f"out['slot'] = op('profile.label', {repr({'slot': 32} | one)})\n",
    )
    assert out["first"] == {"ok": {"slot": 0, "width": 8, "height": 1}}
    assert out["again"] == {
        "error": "label_refused",
        "message": "slot 0 already has its label bitmap",
    }
    assert out["empty"] == {"error": "empty_slot", "message": "slot 2 is empty"}
    assert out["slot"] == {"error": "bad_args", "message": "slot must be an integer 0..31"}


def test_a_damaged_bitmap_leaves_the_line_blank_and_may_be_written_again(tmp_path):
    bitmap = render("张三")
    run(
        tmp_path,
        f"op('profile.write', {write_args(0, '张三')})\n"
        f"op('profile.label', {label_args(0, bitmap)})\n",
    )
    damaged = bytearray((tmp_path / "bl0.lbl").read_bytes())
    damaged[10] ^= 0x01  # one pixel of the bitmap: the tag no longer matches
    (tmp_path / "bl0.lbl").write_bytes(bytes(damaged))
    out = run(
        tmp_path,
        "out['label'] = st.label(0)\n"
        "out['blank'] = frame(0, '张三')\n"
        "out['corrupt'] = st.corrupt()\n"
        f"out['again'] = op('profile.label', {label_args(0, bitmap)})\n"
        "out['frame'] = frame(0, '张三')\n",
    )
    assert out["label"] == []  # () in JSON: a line that needs a bitmap and has no valid one
    assert pixels(out["blank"])[:14] == [[0] * W] * 14
    assert out["corrupt"] is False  # the profile itself is fine and still shows its code
    assert "ok" in out["again"]
    assert pixels(out["frame"])[:14] == expected_label_rows(bitmap)


def test_labels_of_32_four_byte_characters_fit_the_store(tmp_path):
    out = run(
        tmp_path,
        "big = {'slot': 3, 'secret': 'A' * 103, 'algorithm': 'sha512', 'digits': 8, "
        "'period': 300, 'label': '\\U0001f600' * 32, 'issuer': '\\U0001f600' * 32}\n"
        "out['write'] = op('profile.write', big)\n"
        "st2 = store.Store('.', unhexlify(" + repr(UID) + "))\n"
        "st2.load()\n"
        "out['reloaded'] = list(st2.profiles())\n",
    )
    assert "ok" in out["write"]
    assert out["reloaded"][0]["label"] == "\U0001f600" * 32
