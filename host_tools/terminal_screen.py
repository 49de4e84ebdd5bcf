"""Draw in a terminal: a token's 128x64 monochrome screen (64x32 characters, 2x2 pixels each),
and the QR code of an otpauth URI for a phone to scan."""

import io
from pathlib import Path

import segno
from PIL import Image

# Quadrant block characters indexed by four bits: upper-left 1, upper-right 2, lower-left 4,
# lower-right 8. Each character cell shows a 2x2 square of pixels, so the whole screen fits
# in an 80-column terminal.
_QUADRANTS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"


def screen_to_text(image_path: Path) -> str:
    """Return the screen as framed lines of quadrant characters (lit pixels drawn)."""
    with Image.open(image_path) as opened:
        image = opened.convert("1")
    width, height = image.size
    pixels = image.load()
    assert pixels is not None  # Pillow's stubs allow None; a converted image has its pixels

    def lit(x: int, y: int) -> int:
        # PBM stores 1 for ink, which Pillow's "1" mode reads as 0: that ink is a lit pixel.
        return int(x < width and y < height and pixels[x, y] == 0)

    rows = []
    for y in range(0, height, 2):
        cells = []
        for x in range(0, width, 2):
            bits = lit(x, y) | lit(x + 1, y) << 1 | lit(x, y + 1) << 2 | lit(x + 1, y + 1) << 3
            cells.append(_QUADRANTS[bits])
        rows.append("".join(cells))
    border = "─" * len(rows[0])
    return "\n".join([f"┌{border}┐", *(f"│{row}│" for row in rows), f"└{border}┘"])


def qr_to_text(data: str) -> str:
    """The QR code of `data` in half-height block characters (medium error correction)."""
    out = io.StringIO()
    segno.make(data, error="m").terminal(out=out, compact=True)
    return out.getvalue()
