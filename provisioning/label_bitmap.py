"""A code screen's label line as a 1-bit bitmap, for lines the token's own font cannot draw.

The firmware draws labels with MicroPython's FrameBuffer.text: 8x8 pixels, printable ASCII only.
Any other line (Chinese, Greek, Cyrillic, ...) is rendered here with a CJK-capable font from
Debian's packages into at most LABEL_WIDTH x LABEL_HEIGHT pixels, the rows above the code's
digits (firmware/display.py), and written to the token with profile.label (docs/protocol.md).
The bytes are MONO_HLSB rows, most significant bit leftmost: Pillow's "1" raw mode and what the
firmware's framebuf.FrameBuffer blits, so the token shows exactly these pixels.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from baoling.provisioning.errors import BadProfile

LABEL_WIDTH = 128  # firmware/display.py LABEL_W: the whole top line
LABEL_HEIGHT = 12  # firmware/display.py LABEL_H: the rows above the digits
SIZES_PX = (12, 11, 10)  # font sizes tried, largest first, until the line fits
# Families tried in order, with where Debian's package puts them (fc-match is asked first).
FONTS = (
    ("WenQuanYi Zen Hei Sharp", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    ("Noto Sans CJK SC", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
FONT_PACKAGE = "fonts-wqy-zenhei"
_MISSING_GLYPH = "\U0010fffd"  # a private-use code point no font draws: its .notdef box
_CANVAS = (512, 48)  # room to draw the line before it is cut to its ink
_ORIGIN = (8, 8)  # where it is drawn: room for a glyph reaching left of or above its origin


@dataclass(frozen=True)
class LabelBitmap:
    """A rendered label line: `rows` holds `height` rows of (width + 7) // 8 bytes."""

    width: int
    height: int
    rows: bytes

    def pixel(self, x: int, y: int) -> int:
        return self.rows[y * ((self.width + 7) // 8) + x // 8] >> (7 - x % 8) & 1


def label_line(label: str, issuer: str) -> str:
    """The text of the code screen's top line: "issuer:label", as firmware/main.py joins it."""
    return f"{issuer}:{label}" if issuer and label else label or issuer


def needs_bitmap(line: str) -> bool:
    """Whether the token's font cannot draw `line` (it has printable ASCII only)."""
    return any(not " " <= ch <= "~" for ch in line)


def find_font() -> tuple[str, str, int]:
    """(family, file, index in the file) of the first installed font of FONTS; BadProfile when
    there is none (the label cannot be shown)."""
    for family, known_path in FONTS:
        found = _fc_match(family) or _by_name(family, known_path)
        if found is not None:
            return family, found[0], found[1]
    raise BadProfile(
        "No font for labels in other scripts is installed: install Debian's "
        f"{FONT_PACKAGE} (sudo apt-get install {FONT_PACKAGE}), or use an ASCII label."
    )


def _fc_match(family: str) -> tuple[str, int] | None:
    if shutil.which("fc-match") is None:
        return None
    done = subprocess.run(
        ["fc-match", "-f", "%{family}\t%{file}\t%{index}", family],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    parts = done.stdout.split("\t")
    # fc-match always names some font: only an exact family is the one asked for
    if done.returncode != 0 or len(parts) != 3 or family not in parts[0].split(","):
        return None
    return parts[1], int(parts[2] or 0)


def _by_name(family: str, path: str) -> tuple[str, int] | None:
    if not Path(path).is_file():
        return None
    for index in range(8):  # a .ttc file holds a few faces
        try:
            face = ImageFont.truetype(path, SIZES_PX[0], index=index)
        except OSError:
            return None
        if face.getname()[0] == family:
            return path, index
    return None


def render(line: str) -> LabelBitmap:
    """`line` in the largest of SIZES_PX that fits the label line, cut to its ink.

    BadProfile when it fits at no size, the font lacks one of its characters or no font of FONTS
    is installed.
    """
    family, path, index = find_font()
    width = height = 0
    for size in SIZES_PX:
        font = ImageFont.truetype(path, size, index=index)
        _check_glyphs(line, font, family)
        image = Image.new("1", _CANVAS, 0)
        draw = ImageDraw.Draw(image)
        draw.fontmode = "1"  # no anti-aliasing: the pixels are the glyphs' own bitmaps
        draw.text(_ORIGIN, line, font=font, fill=1)
        box = image.getbbox()
        if box is None:  # only blank characters: one blank pixel
            return LabelBitmap(1, 1, b"\x00")
        width, height = box[2] - box[0], box[3] - box[1]
        if width <= LABEL_WIDTH and height <= LABEL_HEIGHT:
            return LabelBitmap(width, height, image.crop(box).tobytes())
    raise BadProfile(
        f"Label {line!r} is {width}x{height} pixels even at {SIZES_PX[-1]} px; a token's label "
        f"line holds {LABEL_WIDTH}x{LABEL_HEIGHT}: shorten the label or the issuer."
    )


def _check_glyphs(line: str, font: ImageFont.FreeTypeFont, family: str) -> None:
    missing = _glyph(font, _MISSING_GLYPH)
    for ch in dict.fromkeys(line):
        if needs_bitmap(ch) and _glyph(font, ch) == missing:
            raise BadProfile(
                f"Label {line!r} has a character the font {family} cannot draw: {ch!r}."
            )


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    image = Image.new("1", (SIZES_PX[0] * 4, SIZES_PX[0] * 4), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.text(_ORIGIN, ch, font=font, fill=1)
    return image.tobytes()
