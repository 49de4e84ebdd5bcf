"""firmware/display.py under real MicroPython, checked pixel by pixel.

Screens are drawn into a framebuf.FrameBuffer (MONO_HLSB, 128x64, i.e. PBM P4 byte order) that
records the drawing calls; the bytes come back as hex and are decoded here. References: the
standard seven-segment patterns of the digits (typed below from the usual a..g naming), the
issue's wording for the status screens, and FrameBuffer.text's own rendering of that wording.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from baoling.provisioning.label_bitmap import render
from tests.micropython_runner import run_micropython

W, H = 128, 64

# Standard seven-segment patterns: a top, b top right, c bottom right, d bottom, e bottom left,
# f top left, g middle. "1" is drawn as one centred stroke (checked separately).
SEVEN_SEGMENT = {
    "0": "abcdef", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg",
    "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}  # fmt: skip

# kind: phrases the screen must show (issue 4's wording)
STATUS_PHRASES = {
    "hello": ["BAOLING"],
    "no_secret": ["NO SECRET"],
    "set_time": ["SET TIME"],
    "locked": ["LOCKED"],
    "wipe_confirm": ["press button", "to wipe"],
    "store_error": ["STORE ERROR"],
    "wiped": ["WIPED"],
    "pin": ["ENTER PIN"],
    "pin_ab": ["ENTER PIN", "A: digit+1", "B: next digit"],
    "wrong_pin": ["WRONG PIN"],
}

CODES = ["012345", "678901", "2345678", "23456789", "90817263"]
BAR_CASES = [(30, s) for s in (30, 29, 23, 17, 15, 8, 1, 0)] + [(60, s) for s in (60, 45, 1)]
LONG_LABEL = "averyveryverylonglabel"

_PROGRAM = """\
import json
import framebuf
import display


class Quiet(framebuf.FrameBuffer):
    # a 128x64 FrameBuffer with the show() Display calls
    def __init__(self):
        self.buf = bytearray(128 * 64 // 8)
        super().__init__(self.buf, 128, 64, framebuf.MONO_HLSB)
        self.shows = 0

    def show(self):
        self.shows += 1


class Screen(Quiet):
    # ... that also records where it was drawn on
    def __init__(self):
        super().__init__()
        self.calls = []

    def log(self, *call):
        self.calls.append(list(call))

    def fill(self, c):
        self.log("fill", 0, 0, 128, 64)
        super().fill(c)

    def fill_rect(self, x, y, w, h, c):
        self.log("fill_rect", x, y, w, h)
        super().fill_rect(x, y, w, h, c)

    def rect(self, x, y, w, h, c):
        self.log("rect", x, y, w, h)
        super().rect(x, y, w, h, c)

    def hline(self, x, y, w, c):
        self.log("hline", x, y, w, 1)
        super().hline(x, y, w, c)

    def vline(self, x, y, h, c):
        self.log("vline", x, y, 1, h)
        super().vline(x, y, h, c)

    def pixel(self, x, y, c=None):
        self.log("pixel", x, y, 1, 1)
        return super().pixel(x, y) if c is None else super().pixel(x, y, c)

    def text(self, s, x, y, c=1):
        self.log("text", x, y, 8 * len(s), 8)
        super().text(s, x, y, c)


def phrase(text, inverted):
    # FrameBuffer.text's own rendering of text, as a reference image
    w = 8 * len(text)
    buf = bytearray((w + 7) // 8 * 8)
    fb = framebuf.FrameBuffer(buf, w, 8, framebuf.MONO_HLSB)
    fb.fill(1 if inverted else 0)
    fb.text(text, 0, 0, 0 if inverted else 1)
    return buf.hex()


out = {"codes": {}, "bars": [], "status": {}, "phrases": {}}
for code in CODES:
    fb = Screen()
    d = display.Display(fb)
    d.show_code(code, "Example", 20, 30, 0, 1)
    boxes = [display.digit_box(len(code), i) for i in range(len(code))]
    out["codes"][code] = {"frame": fb.buf.hex(), "boxes": boxes, "shows": fb.shows}

for period, left in BAR_CASES:
    fb = Screen()
    d = display.Display(fb)
    d.show_code("123456", "bar", left, period, 0, 1)
    out["bars"].append(fb.buf.hex())

fb = Screen()
d = display.Display(fb)
d.show_code("482913", "Ticking", 30, 30, 1, 4)
before = fb.buf.hex()
fb.calls = []
d.tick(12, 30)
out["tick"] = {"before": before, "after": fb.buf.hex(), "calls": fb.calls, "shows": fb.shows,
               "description": d.description}
fresh = Screen()
display.Display(fresh).show_code("482913", "Ticking", 12, 30, 1, 4)
out["tick"]["fresh"] = fresh.buf.hex()

fb = Screen()
d = display.Display(fb)
d.show_status("set_time")
d.tick(5, 30)
out["tick_on_status"] = {"frame": fb.buf.hex(), "shows": fb.shows, "description": d.description}

for slots, label in ((4, LONG_LABEL), (1, LONG_LABEL)):
    fb = Screen()
    d = display.Display(fb)
    d.show_code("000000", label, 10, 30, 1, slots)
    out["label_%d" % slots] = fb.buf.hex()

for kind in STATUS_PHRASES:
    for detail in ("", "v1.2 12 s"):
        fb = Screen()
        d = display.Display(fb)
        d.show_status(kind, detail)
        out["status"][kind + "|" + detail] = {
            "frame": fb.buf.hex(), "description": d.description, "shows": fb.shows}

texts = [p for ps in STATUS_PHRASES.values() for p in ps]
texts += ["v1.2 12 s", LONG_LABEL, LONG_LABEL[:12], "2/4", "Example"]
for text in texts:
    out["phrases"][text] = [phrase(text, False), phrase(text, True)]

import gc
d = display.Display(Quiet())  # recording allocates: measure the display alone
d.show_code("123456", "alloc", 30, 30, 0, 4)
d.tick(29, 30)
gc.collect()
gc.disable()
before = gc.mem_alloc()
left = 28
while left > 0:
    d.tick(left, 30)
    left -= 1
out["tick_alloc"] = gc.mem_alloc() - before
gc.enable()

errors = []
for call in ("display.Display(Screen()).show_status('bogus')",
             "display.Display(Screen()).show_status('set')",
             "display.Display(Screen()).show_status('')",
             "display.Display(Screen()).show_status('hello|BAOLING')",
             "display.Display(Screen()).show_code('12345', 'x', 1, 30, 0, 1)",
             "display.digit_box(9, 0)",
             "display.Display(Screen()).show_code('12345/', 'x', 1, 30, 0, 1)",
             "display.Display(Screen()).show_code('1234a6', 'x', 1, 30, 0, 1)"):
    try:
        eval(call)
        errors.append("no error")
    except ValueError as e:
        errors.append(str(e))
out["errors"] = errors
fb = Screen()
d = display.Display(fb)
d.show_code("123456", "kept", 9, 30, 0, 1)
kept = fb.buf.hex()
try:
    d.show_code("12a456", "bad", 9, 30, 0, 1)
except ValueError:
    pass
out["bad_code_keeps_screen"] = [fb.buf.hex() == kept, d.description["code"], fb.shows]
print(json.dumps(out))
"""


def _pixels(hexframe: str, width: int = W, height: int = H) -> list[str]:
    """MONO_HLSB / PBM P4 bytes as rows of '0'/'1', most significant bit leftmost."""
    data = bytes.fromhex(hexframe)
    stride = (width + 7) // 8
    rows = []
    for y in range(height):
        bits = "".join(f"{byte:08b}" for byte in data[y * stride : (y + 1) * stride])
        rows.append(bits[:width])
    return rows


def _find(frame: list[str], hexphrase: str, width: int) -> list[tuple[int, int]]:
    """Every (x, y) where the phrase image appears in the frame."""
    phrase = _pixels(hexphrase, width, 8)
    found = []
    for y in range(len(frame) - 7):
        x = frame[y].find(phrase[0])
        while x >= 0:
            if all(frame[y + r][x : x + width] == phrase[r] for r in range(8)):
                found.append((x, y))
            x = frame[y].find(phrase[0], x + 1)
    return found


def _shows(frame: list[str], out: dict, text: str) -> list[tuple[int, int]]:
    normal, inverted = out["phrases"][text]
    width = 8 * len(text)
    return _find(frame, normal, width) + _find(frame, inverted, width)


@pytest.fixture(scope="module")
def out() -> dict:
    """All screens drawn in one MicroPython run."""
    program = (
        f"CODES = {CODES!r}\nBAR_CASES = {BAR_CASES!r}\nLONG_LABEL = {LONG_LABEL!r}\n"
        f"STATUS_PHRASES = {STATUS_PHRASES!r}\n" + _PROGRAM
    )
    return json.loads(run_micropython(program))


def _segment_points(x: int, y: int, w: int, h: int) -> dict[str, tuple[int, int]]:
    """A pixel in the middle of each segment, and the two holes that are never lit."""
    return {
        "a": (x + w // 2, y + 1),
        "b": (x + w - 2, y + h // 4),
        "c": (x + w - 2, y + 3 * h // 4),
        "d": (x + w // 2, y + h - 2),
        "e": (x + 1, y + 3 * h // 4),
        "f": (x + 1, y + h // 4),
        "g": (x + w // 2, y + h // 2),
        "upper hole": (x + w // 2, y + h // 4),
        "lower hole": (x + w // 2, y + 3 * h // 4),
    }


@pytest.mark.parametrize("code", CODES)
def test_digits_are_seven_segment_glyphs_in_their_boxes(out: dict, code: str) -> None:
    shown = out["codes"][code]
    frame = _pixels(shown["frame"])
    boxes = shown["boxes"]
    assert len(boxes) == len(code)
    for digit, (x, y, w, h) in zip(code, boxes, strict=True):
        lit = {(px, py) for py in range(y, y + h) for px in range(x, x + w) if frame[py][px] == "1"}
        rows = {py for _, py in lit}
        assert max(rows) - min(rows) + 1 >= 24, f"digit {digit} is under 24 px tall"
        if digit == "1":
            centre = x + w // 2
            assert all(frame[py][centre] == "1" for py in range(y, y + h)), "1: no stroke"
            assert all(abs(px - centre) <= 2 for px, _ in lit), "1: not one centred stroke"
            continue
        for name, (px, py) in _segment_points(x, y, w, h).items():
            expected = "1" if name in SEVEN_SEGMENT[digit] else "0"
            assert frame[py][px] == expected, f"digit {digit} segment {name} of {code}"


@pytest.mark.parametrize("code", CODES)
def test_digit_boxes_are_grouped_like_a_key_fob(out: dict, code: str) -> None:
    boxes = out["codes"][code]["boxes"]
    first_group = (len(code) + 1) // 2  # 3+3, 4+3, 4+4
    gaps = [boxes[i + 1][0] - (boxes[i][0] + boxes[i][2]) for i in range(len(boxes) - 1)]
    inner = gaps[: first_group - 1] + gaps[first_group:]
    assert min(gaps) > 0
    assert gaps[first_group - 1] > max(inner)
    assert boxes[0][0] >= 0 and boxes[-1][0] + boxes[-1][2] <= W
    assert all(h >= 24 for _, _, _, h in boxes)


@pytest.mark.parametrize("code", CODES)
def test_digit_band_has_nothing_outside_the_digit_boxes(out: dict, code: str) -> None:
    shown = out["codes"][code]
    frame = _pixels(shown["frame"])
    boxes = shown["boxes"]
    top = boxes[0][1]
    bottom = top + boxes[0][3]
    inside = {(px, py) for x, y, w, h in boxes for py in range(y, y + h) for px in range(x, x + w)}
    stray = [
        (px, py)
        for py in range(top, bottom)
        for px in range(W)
        if frame[py][px] == "1" and (px, py) not in inside
    ]
    assert stray == []
    assert shown["shows"] == 1


def _bar_row(frame: list[str]) -> int:
    """The middle row of the countdown bar: the band at the bottom whose left edge is drawn."""
    band = [y for y in range(H - 16, H) if frame[y][0] == "1"]
    return (band[0] + band[-1]) // 2


def _fill_length(frame: list[str]) -> int:
    row = frame[_bar_row(frame)][1:-1]  # inside the outline's left and right edges
    inner = row.lstrip("0")
    assert "0" not in inner.rstrip("0"), "the bar's fill is not one run"
    return len(inner.rstrip("0"))


def test_bar_length_matches_seconds_left(out: dict) -> None:
    frames = [_pixels(hexframe) for hexframe in out["bars"]]
    full = _fill_length(frames[0])  # 30 of 30 seconds left
    assert full >= 100, "a full bar spans most of the width"
    for (period, left), frame in zip(BAR_CASES, frames, strict=True):
        length = _fill_length(frame)
        assert abs(length - full * left / period) <= 1, (period, left, length)
    assert _fill_length(frames[BAR_CASES.index((30, 0))]) == 0


def test_tick_redraws_only_the_bar(out: dict) -> None:
    tick = out["tick"]
    before, after = _pixels(tick["before"]), _pixels(tick["after"])
    bar_top = min(y for y in range(H - 16, H) if before[y][0] == "1")
    assert after[:bar_top] == before[:bar_top], "tick changed something above the bar"
    assert after != before
    assert tick["after"] == tick["fresh"], "tick's bar differs from a full redraw's"
    assert tick["calls"], "tick drew nothing"
    for name, _x, y, _w, _h in tick["calls"]:
        assert name != "fill", "tick cleared the whole screen"
        assert y >= bar_top, f"tick drew at row {y}, above the bar"
    assert tick["shows"] == 2  # show_code, then tick
    assert tick["description"] == {
        "screen": "code",
        "code": "482913",
        "label": "Ticking",
        "seconds_left": 12,
        "period": 30,
        "slot": 1,
        "slots": 4,
    }


def test_countdown_ticks_allocate_nothing(out: dict) -> None:
    assert out["tick_alloc"] == 0


def test_tick_on_a_status_screen_draws_no_bar(out: dict) -> None:
    status = out["tick_on_status"]
    assert status["frame"] == out["status"]["set_time|"]["frame"]
    assert status["shows"] == 1
    assert status["description"] == {"screen": "set_time"}


def test_label_and_slot_indicator(out: dict) -> None:
    with_slots = _pixels(out["label_4"])
    assert _shows(with_slots, out, "2/4") == [(W - 24, 0)]
    assert _shows(with_slots, out, LONG_LABEL[:12]) == [(0, 0)]
    single = _pixels(out["label_1"])
    assert _shows(single, out, "2/4") == []
    assert single[0:8] == [
        row[:128] for row in _pixels(out["phrases"][LONG_LABEL][0], 8 * len(LONG_LABEL), 8)
    ]


@pytest.mark.parametrize("kind", sorted(STATUS_PHRASES))
def test_status_screen_shows_its_words(out: dict, kind: str) -> None:
    plain = out["status"][kind + "|"]
    frame = _pixels(plain["frame"])
    for text in STATUS_PHRASES[kind]:
        assert _shows(frame, out, text), f"{kind}: {text!r} not on screen"
    assert plain["description"] == {"screen": kind}
    assert plain["shows"] == 1
    detailed = out["status"][kind + "|v1.2 12 s"]
    assert _shows(_pixels(detailed["frame"]), out, "v1.2 12 s")
    assert _shows(frame, out, "v1.2 12 s") == []
    assert detailed["description"] == {"screen": kind, "detail": "v1.2 12 s"}


def test_status_screens_differ(out: dict) -> None:
    frames = [out["status"][kind + "|"]["frame"] for kind in STATUS_PHRASES]
    assert len(set(frames)) == len(frames)


def test_bad_calls_raise_valueerror(out: dict) -> None:
    assert out["errors"] == [
        "unknown screen",
        "unknown screen",
        "unknown screen",
        "unknown screen",
        "code must have 6 to 8 digits",
        "code must have 6 to 8 digits",
        "code must be digits",
        "code must be digits",
    ]


def test_render_screens_script_writes_the_documented_pngs(out: dict, tmp_path: Path) -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "render_screens.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    names = {path.name for path in tmp_path.iterdir()}
    statuses = {f"{kind.replace('_', '-')}.png" for kind in STATUS_PHRASES}
    codes = {"code-6-digits.png", "code-8-digits.png", "code-last-seconds.png"}
    assert names == statuses | codes | {"code-chinese-label.png", "menu.png"}
    assert set(done.stdout.split()) == {str(tmp_path / name) for name in names}
    with Image.open(tmp_path / "set-time.png") as image:
        assert image.size == (4 * W, 4 * H)
        small = image.convert("1").resize((W, H), Image.NEAREST)
        rows = ["".join("1" if small.getpixel((x, y)) else "0" for x in range(W)) for y in range(H)]
    assert rows == _pixels(out["status"]["set_time|"]["frame"])
    # the Chinese label's screen: the host's bitmap at the top left
    label = render("工商银行:张三")
    with Image.open(tmp_path / "code-chinese-label.png") as image:
        small = image.convert("1").resize((W, H), Image.NEAREST)
        top = [[1 if small.getpixel((x, y)) else 0 for x in range(W)] for y in range(12)]
    assert label.width <= 96  # left of the indicator and its gap: nothing cut
    for y in range(12):
        row = [label.pixel(x, y) if x < label.width and y < label.height else 0 for x in range(104)]
        assert top[y][:104] == row, y
    # the menu: the same bitmap on the third row of its page, after the cursor column
    with Image.open(tmp_path / "menu.png") as image:
        small = image.convert("1").resize((W, H), Image.NEAREST)
        third = [[1 if small.getpixel((x, y)) else 0 for x in range(W)] for y in range(26, 38)]
    for y in range(12):
        inside = y < label.height
        row = [
            label.pixel(x - 8, y) if inside and 8 <= x < 8 + label.width else 0 for x in range(W)
        ]
        assert third[y] == row, y


def test_a_bad_code_leaves_the_screen_as_it_was(out: dict) -> None:
    assert out["bad_code_keeps_screen"] == [True, "123456", 1]
