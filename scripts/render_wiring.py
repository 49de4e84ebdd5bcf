"""Draw how to wire each real board (Pico, ESP32) to the OLED, the optional RTC and the buttons.

Usage: .venv/bin/python scripts/render_wiring.py OUT_DIR   (docs/wiring/ is the committed output)

The pin numbers are not restated here: they are read with `ast` from the board descriptions
themselves (the arguments firmware/boards/<board>.py passes to MachineBoard, named by
MachineBoard.__init__ in firmware/machineboard.py), so a picture cannot drift from the
firmware. What the firmware does not know (a Pico's physical pin numbers, part outlines, wire
colours) is hardware fact and lives here. The optional second button is drawn on the board
file's `_BUTTON2` pin, or, while that is None (one button), on the pin the board file's
comment names for it (docs/hardware.md "One button or two"). Prints one JSON line per
picture: the pins it drew (also stored in each PNG's "baoling-wiring" text chunk).
"""

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"

WIDTH, HEIGHT = 1200, 1240
WIRE_W, DOT_R, PAD = 6, 8, 14
PNG_KEY = "baoling-wiring"  # PNG text chunk: the pins and labels the picture shows

# conventional colours: red power, black ground, blue SDA, yellow SCL; green for the button
COLOURS = {
    "3V3": (214, 39, 40),
    "GND": (20, 20, 20),
    "SDA": (31, 100, 200),
    "SCL": (230, 175, 0),
    "BUTTON": (30, 150, 60),
}

# Raspberry Pi Pico datasheet, pinout: GPn -> physical pin (1..40)
PICO_PHYSICAL_PIN = {
    0: 1, 1: 2, 2: 4, 3: 5, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11, 9: 12, 10: 14, 11: 15, 12: 16,
    13: 17, 14: 19, 15: 20, 16: 21, 17: 22, 18: 24, 19: 25, 20: 26, 21: 27, 22: 29, 26: 31,
    27: 32, 28: 34,
}  # fmt: skip


@dataclass(frozen=True)
class Board:
    """How one board is drawn: its outline and how its pins are named on the silkscreen."""

    file: str  # firmware/boards/<file>.py
    title: str
    short: str  # written on the board
    fill: tuple[int, int, int]
    power: str  # the 3.3 V output pin
    ground: str
    button_ground: str
    gpio_prefix: str
    button_on_board: bool  # the board already has one on the button's pin: ours is optional
    button2: int  # where the optional second button goes while the board file says None
    notes: tuple[str, ...]

    def gpio(self, number: int) -> str:
        """The silkscreen name of a GPIO, with the Pico's physical pin number."""
        label = f"{self.gpio_prefix}{number}"
        if self.file == "pico":
            if number not in PICO_PHYSICAL_PIN:
                raise SystemExit(f"GP{number} is not a GPIO on a Raspberry Pi Pico")
            label += f" (pin {PICO_PHYSICAL_PIN[number]})"
        elif self.file == "esp32" and number == 0:
            label += " (BOOT)"
        return label


BOARDS = (
    Board(
        "pico",
        "Raspberry Pi Pico / Pico W",
        "Raspberry Pi\nPico",
        (24, 110, 60),
        "3V3(OUT) (pin 36)",
        "GND (pin 38)",
        "GND (pin 18)",
        "GP",
        False,
        14,
        (
            "Any GND pin will do (3, 8, 13, 18, 23,",
            "28, 33, 38): they are all connected.",
            "Power the parts from 3V3(OUT), never",
            "from VBUS or VSYS (5 V). OLED and RTC",
            "share the I2C bus: wire both to the",
            "same two pins (a breadboard row each).",
        ),
    ),
    Board(
        "esp32",
        "ESP32 dev board (WROOM / WROVER)",
        "ESP32\ndev board",
        (40, 40, 48),
        "3V3",
        "GND",
        "GND",
        "GPIO",
        True,
        4,
        (
            "Pin positions differ between ESP32",
            "boards: follow the GPIO names printed",
            "on yours. The BOOT button (GPIO0 to",
            "GND) already is the token's button; an",
            "external one, wired as drawn, is optional.",
            "OLED and RTC share the I2C bus: wire",
            "both to the same two pins.",
        ),
    ),
)


def _const_ints(tree: ast.Module) -> dict[str, int | str | None]:
    """Module-level `_NAME = const(<int>)` (or plain int) assignments of a firmware file."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "const":
                value = value.args[0]
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                found[target.id] = value.value
    return found


def machine_board_params() -> list[str]:
    """Parameter names of MachineBoard.__init__ after self, in order."""
    tree = ast.parse((FIRMWARE_DIR / "machineboard.py").read_text())
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == "MachineBoard":
            for node in cls.body:
                if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                    return [arg.arg for arg in node.args.args[1:]]
    raise SystemExit("firmware/machineboard.py: MachineBoard.__init__ not found")


DRAWN = ("bus", "sda", "scl", "button", "button2")  # the MachineBoard arguments a picture shows


def board_pins(board_file: Path) -> dict[str, int | str | None]:
    """What a board description passes to MachineBoard for DRAWN, by name (e.g. sda -> 4)."""
    tree = ast.parse(board_file.read_text())
    consts = _const_ints(tree)
    params = machine_board_params()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "MachineBoard":
            given = list(zip(params, node.args, strict=False))
            given += [(kw.arg, kw.value) for kw in node.keywords]
            pins: dict[str, int | str | None] = {}
            for name, arg in given:
                if name not in DRAWN:
                    continue
                if isinstance(arg, ast.Constant):
                    pins[name] = arg.value
                elif isinstance(arg, ast.Name) and arg.id in consts:
                    pins[name] = consts[arg.id]
                else:
                    raise SystemExit(f"{board_file}: cannot read the value of {name}")
            return pins
    raise SystemExit(f"{board_file}: no MachineBoard(...) call found")


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _dashed_rect(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(250, 250, 244))
    dash = 14
    for x in range(x0, x1, 2 * dash):
        draw.line((x, y0, min(x + dash, x1), y0), fill=(90, 90, 90), width=3)
        draw.line((x, y1, min(x + dash, x1), y1), fill=(90, 90, 90), width=3)
    for y in range(y0, y1, 2 * dash):
        draw.line((x0, y, x0, min(y + dash, y1)), fill=(90, 90, 90), width=3)
        draw.line((x1, y, x1, min(y + dash, y1)), fill=(90, 90, 90), width=3)


def _pad(draw: ImageDraw.ImageDraw, x: int, y: int) -> None:
    draw.rectangle(
        (x - PAD // 2, y - PAD // 2, x + PAD // 2, y + PAD // 2),
        fill=(205, 170, 60),
        outline=(60, 50, 20),
        width=2,
    )


def _wire(draw: ImageDraw.ImageDraw, points: list[tuple[int, int]], signal: str) -> None:
    draw.line(points, fill=COLOURS[signal], width=WIRE_W, joint="curve")


def _dot(draw: ImageDraw.ImageDraw, x: int, y: int, signal: str) -> None:
    draw.ellipse((x - DOT_R, y - DOT_R, x + DOT_R, y + DOT_R), fill=COLOURS[signal])


def _button(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], caption: str, optional: bool
) -> tuple[int, int]:
    """A push button part (two legs, a gap and the plunger that bridges it); its legs' y."""
    x0, top = box[0], box[1]
    if optional:
        _dashed_rect(draw, box)
    else:
        draw.rectangle(box, fill=(250, 250, 244), outline=(90, 90, 90), width=3)
    legs = (top + 40, top + 100)
    for y, end in zip(legs, (top + 55, top + 85), strict=True):
        draw.line((x0, y, x0 + 60, y), fill="black", width=4)
        draw.line((x0 + 60, y, x0 + 60, end), fill="black", width=4)
    draw.line((x0 + 80, top + 45, x0 + 80, top + 95), fill="black", width=4)
    draw.line((x0 + 80, top + 70, x0 + 110, top + 70), fill="black", width=4)
    draw.multiline_text((x0 + 140, top + 25), caption, font=_font(17), fill="black", spacing=6)
    return legs


def draw_board(
    board: Board, pins: dict[str, int | str | None]
) -> tuple[Image.Image, dict[str, str]]:
    """Draw one wiring picture; return it and the pin label drawn for each board pin."""
    button2 = board.button2 if pins.get("button2") is None else int(pins["button2"])
    labels = {
        "3V3": board.power,
        "GND": board.ground,
        "SDA": f"{board.gpio(int(pins['sda']))}  I2C{pins['bus']} SDA",
        "SCL": f"{board.gpio(int(pins['scl']))}  I2C{pins['bus']} SCL",
        "BUTTON": f"{board.gpio(int(pins['button']))}  button A",
        "BUTTON_GND": board.button_ground,
        "BUTTON2": f"{board.gpio(button2)}  button B (optional)",
    }
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    title, text, small = _font(30), _font(20), _font(17)
    grey = (70, 70, 70)

    draw.text((40, 24), f"Baoling token wiring: {board.title}", font=title, fill="black")
    draw.text(
        (40, 66),
        f"Pins read from firmware/boards/{board.file}.py by scripts/render_wiring.py",
        font=small,
        fill=grey,
    )

    # Board pins sit above the parts they feed and each trunk runs down from its pin, the
    # first pin's trunk furthest right: so no wire from the board crosses a trunk.
    board_y = {"3V3": 170, "GND": 220, "SDA": 270, "SCL": 320, "BUTTON": 850, "BUTTON_GND": 910}
    board_y["BUTTON2"] = 1020
    oled = {"GND": 410, "VCC": 445, "SCL": 480, "SDA": 515}
    rtc = {"SCL": 620, "SDA": 655, "VCC": 690, "GND": 725}
    trunk_x = {"3V3": 740, "GND": 700, "SDA": 660, "SCL": 620}
    ends = {"3V3": "VCC", "GND": "GND", "SDA": "SDA", "SCL": "SCL"}
    bx0, bx1, by0, by1 = 40, 400, 120, 1120
    px0, px1 = 780, 1160

    draw.rounded_rectangle((bx0, by0, bx1, by1), radius=18, fill=board.fill)
    draw.rectangle((bx0 + 30, by0 - 14, bx0 + 110, by0 + 20), fill=(170, 170, 175))
    draw.text((bx0 + 70, by0 + 28), "USB", font=small, fill="white", anchor="mt")
    draw.multiline_text((bx0 + 30, by0 + 420), board.short, font=title, fill="white", spacing=8)
    for name, y in board_y.items():
        draw.text((bx1 - 16, y), labels[name], font=text, fill="white", anchor="rm")

    draw.multiline_text((px0, 130), "\n".join(board.notes), font=small, fill=grey, spacing=6)

    draw.rectangle((px0, 380, px1, 545), fill=(20, 60, 120))
    draw.rectangle((px0 + 120, 400, px1 - 20, 525), fill=(5, 5, 10))
    draw.multiline_text(
        (px0 + 140, 420),
        "SSD1306 OLED\n128x64, I2C\naddress 0x3C",
        font=small,
        fill=(120, 200, 255),
        spacing=6,
    )
    _dashed_rect(draw, (px0, 590, px1, 755))
    draw.multiline_text(
        (px0 + 110, 610),
        "DS3231 RTC module\n(optional: keeps the time\non its coin cell)\naddress 0x68, same bus",
        font=small,
        fill="black",
        spacing=6,
    )
    for part, colour in ((oled, "white"), (rtc, "black")):
        for name, y in part.items():
            draw.text((px0 + 16, y), name, font=text, fill=colour, anchor="lm")

    # the button (A) and the optional second one (B), whose ground leg joins A's ground wire
    legs = _button(
        draw,
        (px0, 810, px1, 950),
        "push button A\n(momentary, normally open)",
        board.button_on_board,
    )
    legs2 = _button(
        draw,
        (px0, 980, px1, 1120),
        f"push button B (optional)\nfitted: set _BUTTON2 = {button2}\nin boards/{board.file}.py",
        True,
    )

    for signal, x in trunk_x.items():
        part_ys = [oled[ends[signal]], rtc[ends[signal]]]
        _wire(draw, [(bx1, board_y[signal]), (x, board_y[signal]), (x, max(part_ys))], signal)
        for y in part_ys:
            _wire(draw, [(x, y), (px0, y)], signal)
        _dot(draw, x, min(part_ys), signal)  # the trunk goes on to the RTC below
    _wire(draw, [(bx1, legs[0]), (px0, legs[0])], "BUTTON")
    _wire(draw, [(bx1, legs[1]), (px0, legs[1])], "GND")
    _wire(draw, [(bx1, legs2[0]), (px0, legs2[0])], "BUTTON")
    _wire(draw, [(px0, legs2[1]), (trunk_x["3V3"], legs2[1]), (trunk_x["3V3"], legs[1])], "GND")
    _dot(draw, trunk_x["3V3"], legs[1], "GND")
    for y in board_y.values():
        _pad(draw, bx1, y)
    for y in [*oled.values(), *rtc.values(), *legs, *legs2]:
        _pad(draw, px0, y)

    ly = 1160
    x = 40
    for signal, colour in COLOURS.items():
        draw.line((x, ly, x + 40, ly), fill=colour, width=WIRE_W)
        draw.text(
            (x + 50, ly),
            "button" if signal == "BUTTON" else signal,
            font=text,
            fill="black",
            anchor="lm",
        )
        x += 150
    draw.text(
        (x + 10, ly),
        "a dot joins wires; a crossing without one does not",
        font=small,
        fill=grey,
        anchor="lm",
    )
    draw.text(
        (40, 1200),
        "The buttons need no resistor: the firmware turns on each pin's "
        "internal pull-up (pressed reads 0).",
        font=small,
        fill=grey,
    )
    return image, labels


def render(out_dir: Path) -> list[dict]:
    """Write OUT_DIR/<board>.png for each board; return what each picture shows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    for board in BOARDS:
        pins = board_pins(FIRMWARE_DIR / "boards" / f"{board.file}.py")
        image, labels = draw_board(board, pins)
        path = out_dir / f"{board.file}.png"
        wired = {key: pins[key] for key in DRAWN}
        # the pins also travel inside the PNG, so a test can tell a stale picture from the
        # board file without comparing pixels (which differ between Pillow versions)
        meta = PngInfo()
        meta.add_text(PNG_KEY, json.dumps({"pins": wired, "labels": labels}))
        image.save(path, optimize=True, pnginfo=meta)
        drawn.append({"board": board.file, "png": str(path), "pins": wired, "labels": labels})
    return drawn


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/render_wiring.py OUT_DIR")
    for picture in render(Path(sys.argv[1])):
        print(json.dumps(picture))


if __name__ == "__main__":
    main()
