"""The terminal drawing of a screen: each character is the 2x2 pixel square it stands for."""

from pathlib import Path

from PIL import Image

from baoling.host_tools.terminal_screen import screen_to_text


def test_each_quadrant_maps_to_its_pixel(tmp_path: Path):
    image = Image.new("1", (8, 4), 1)  # PBM white = unlit
    image.putpixel((0, 0), 0)  # cell 0: upper left only
    image.putpixel((3, 1), 0)  # cell 1: lower right only
    for x in (4, 5):
        image.putpixel((x, 0), 0)  # cell 2: upper half
    for xy in ((6, 0), (7, 0), (6, 1), (7, 1)):
        image.putpixel(xy, 0)  # cell 3: full
    image.putpixel((1, 3), 0)  # second row, cell 0: lower right
    path = tmp_path / "screen.pbm"
    image.save(path)
    assert screen_to_text(path).splitlines() == [
        "┌────┐",
        "│▘▗▀█│",
        "│▗   │",
        "└────┘",
    ]
