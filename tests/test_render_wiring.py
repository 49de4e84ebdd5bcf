"""scripts/render_wiring.py draws the pins the board descriptions really use.

Source of truth: the board files themselves, run under real MicroPython. Each board's make()
is called with a stand-in MachineBoard that records what it is given, so the pins below come
from the firmware's own execution, not from the script's parsing. The committed pictures in
docs/wiring/ must be what the script draws from today's board files.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.micropython_runner import FIRMWARE_DIR, run_micropython

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "render_wiring.py"
BOARDS = ("pico", "esp32")
DRAWN = ("bus", "sda", "scl", "button", "button2")

_RECORD_MAKE = """\
import sys
import json


class Recorder:
    def __init__(self, name, bus, sda, scl, button, sleep_s, button2=None, usb_sense=None):
        self.given = {{
            "name": name, "bus": bus, "sda": sda, "scl": scl, "button": button, "button2": button2
        }}


class MachineBoardModule:
    MachineBoard = Recorder


sys.modules["machineboard"] = MachineBoardModule()
sys.path.insert(0, {boards!r})
import {board}
print(json.dumps({board}.make().given))
"""


def firmware_pins(board: str) -> dict:
    """What firmware/boards/<board>.py passes to MachineBoard, run under MicroPython."""
    out = run_micropython(_RECORD_MAKE.format(boards=str(FIRMWARE_DIR / "boards"), board=board))
    return json.loads(out)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out_dir = tmp_path_factory.mktemp("wiring")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    pictures = {}
    for line in done.stdout.splitlines():
        picture = json.loads(line)
        pictures[picture["board"]] = picture
    return out_dir, pictures


def _load_script():
    spec = importlib.util.spec_from_file_location("render_wiring", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("board", BOARDS)
def test_the_picture_shows_the_pins_the_board_file_passes_to_machineboard(
    board: str, rendered: tuple[Path, dict]
) -> None:
    out_dir, pictures = rendered
    given = firmware_pins(board)
    assert given["name"] == board
    drawn = pictures[board]
    assert drawn["pins"] == {key: given[key] for key in DRAWN}
    assert drawn["png"] == str(out_dir / f"{board}.png")
    labels = drawn["labels"]
    prefix = "GP" if board == "pico" else "GPIO"
    for signal, key in (("SDA", "sda"), ("SCL", "scl"), ("BUTTON", "button")):
        assert labels[signal].startswith(f"{prefix}{given[key]} "), labels[signal]
    assert labels["SDA"].endswith(f"I2C{given['bus']} SDA")
    assert labels["SCL"].endswith(f"I2C{given['bus']} SCL")
    with Image.open(out_dir / f"{board}.png") as image:
        assert image.format == "PNG"
        assert image.size == (1200, 1240)


def test_pico_labels_carry_the_datasheet_pin_numbers(rendered: tuple[Path, dict]) -> None:
    # Raspberry Pi Pico datasheet pinout: GP4 is pin 6, GP5 pin 7, GP15 pin 20
    datasheet = {4: 6, 5: 7, 15: 20}
    given = firmware_pins("pico")
    labels = rendered[1]["pico"]["labels"]
    for signal, key in (("SDA", "sda"), ("SCL", "scl"), ("BUTTON", "button")):
        assert given[key] in datasheet, f"add GP{given[key]}'s pin from the datasheet here"
        assert f"GP{given[key]} (pin {datasheet[given[key]]})" in labels[signal]


@pytest.mark.parametrize("board", BOARDS)
def test_committed_pictures_show_the_board_files_pins_today(
    board: str, rendered: tuple[Path, dict]
) -> None:
    # the PNG's text chunk says what it shows; pixels are not compared (they differ between
    # Pillow versions), so a stale picture is caught without depending on font rendering
    given = firmware_pins(board)
    with Image.open(REPO / "docs" / "wiring" / f"{board}.png") as committed:
        shown = json.loads(committed.text["baoling-wiring"])
        assert committed.size == (1200, 1240)
    stale = (
        f"docs/wiring/{board}.png is out of date: run "
        ".venv/bin/python scripts/render_wiring.py docs/wiring"
    )
    assert shown["pins"] == {key: given[key] for key in DRAWN}, stale
    assert shown["labels"] == rendered[1][board]["labels"], stale


@pytest.mark.parametrize("board", BOARDS)
def test_the_optional_second_button_is_drawn_where_the_board_file_and_guide_put_it(
    board: str, rendered: tuple[Path, dict]
) -> None:
    # one button by default (_BUTTON2 None); the board file's comment and docs/hardware.md
    # name the pin a second one goes on, and the picture draws it there, marked optional
    given = firmware_pins(board)
    source = (FIRMWARE_DIR / "boards" / f"{board}.py").read_text()
    named = re.search(r"set _BUTTON2 = (\d+) when it is fitted", source)
    assert named, f"boards/{board}.py does not say where a second button goes"
    pin = int(named.group(1)) if given["button2"] is None else given["button2"]
    prefix = "GP" if board == "pico" else "GPIO"
    label = rendered[1][board]["labels"]["BUTTON2"]
    assert label.startswith(f"{prefix}{pin} "), label
    assert label.endswith("button B (optional)")
    guide = (REPO / "docs" / "hardware.md").read_text()
    assert f"set `_BUTTON2 = {named.group(1)}` in `boards/{board}.py`" in guide


def test_a_changed_board_file_changes_the_pins_drawn(tmp_path: Path) -> None:
    script = _load_script()
    source = (FIRMWARE_DIR / "boards" / "pico.py").read_text()
    new_sda = 26 if firmware_pins("pico")["sda"] != 26 else 27
    moved = tmp_path / "pico.py"
    moved.write_text(re.sub(r"_SDA = const\(\d+\)", f"_SDA = const({new_sda})", source))
    assert script.board_pins(moved)["sda"] == new_sda


def test_a_board_file_without_machineboard_is_refused(tmp_path: Path) -> None:
    script = _load_script()
    odd = tmp_path / "odd.py"
    odd.write_text("def make():\n    return None\n")
    with pytest.raises(SystemExit, match=r"odd.py: no MachineBoard\(\.\.\.\) call found"):
        script.board_pins(odd)
