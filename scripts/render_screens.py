"""Render every screen of firmware/display.py under real MicroPython and save them as PNGs.

Usage: .venv/bin/python scripts/render_screens.py OUT_DIR   (docs/screens/ is the committed output)

Each screen is drawn into a framebuf.FrameBuffer (MONO_HLSB, 128x64: PBM P4 byte order) by the
firmware's own code under the `micropython` binary; the bytes come back as hex and become a PNG
scaled 4x (nearest neighbour) so the pixels stay visible. The Chinese label's bitmap is rendered
by the host's code (provisioning/label_bitmap.py), as `baoling token provision` sends it.
"""

import subprocess
import sys
from pathlib import Path

from PIL import Image

from baoling.host_tools.micropython import find_micropython
from baoling.provisioning.label_bitmap import render as render_label

WIDTH, HEIGHT, SCALE = 128, 64, 4
CHINESE_LABEL = "工商银行:张三"  # issuer:label of a profile at a Chinese bank
# the menu's labels, slot 7 the Chinese one (drawn from its bitmap)
MENU = ["GitHub:alice", "VPN", "bank.example", "AWS:root", "Mail:bob", "Shop:carol"]
MENU += ["GitLab:alice", CHINESE_LABEL, "Cloud:dave", "SSH:erin"] + [f"site{i}" for i in range(22)]
FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"

# file name: the Display call that draws it
SCREENS = {
    "code-6-digits": "d.show_code('052917', 'GitHub:alice', 17, 30, 1, 4)",
    "code-8-digits": "d.show_code('80369214', 'VPN', 44, 60, 0, 1)",
    "code-last-seconds": "d.show_code('390125', 'bank.example', 3, 30, 2, 3)",
    "code-chinese-label": f"d.show_code('731046', {CHINESE_LABEL!r}, 21, 30, 0, 2, LABEL)",
    "menu": "import menu; menu.show(d, 32, 6, lambda i: (MENU[i], LABEL if i == 7 else None))",
    "hello": "d.show_status('hello', 'v0.2.0')",
    "no-secret": "d.show_status('no_secret')",
    "set-time": "d.show_status('set_time')",
    "locked": "d.show_status('locked')",
    "wipe-confirm": "d.show_status('wipe_confirm', '10 s left')",
    "store-error": "d.show_status('store_error')",
    "wiped": "d.show_status('wiped')",
    "pin": "d.show_status('pin', '**3___')",
    "pin-ab": "d.show_status('pin_ab', '**3___')",
    "wrong-pin": "d.show_status('wrong_pin')",
}

_PROGRAM = """\
import sys
sys.path.insert(0, {firmware!r})
from binascii import unhexlify
import framebuf
import display

LABEL = (bytearray(unhexlify({label_rows!r})), {label_width}, {label_height})
MENU = {menu!r}

class Screen(framebuf.FrameBuffer):
    def __init__(self):
        self.buf = bytearray({width} * {height} // 8)
        super().__init__(self.buf, {width}, {height}, framebuf.MONO_HLSB)

    def show(self):
        pass

for name, call in {screens!r}:
    fb = Screen()
    d = display.Display(fb)
    exec(call)
    print(name, fb.buf.hex())
"""


def render(out_dir: Path) -> list[Path]:
    """Draw every screen under MicroPython and write OUT_DIR/<name>.png; return the paths."""
    label = render_label(CHINESE_LABEL)
    program = _PROGRAM.format(
        firmware=str(FIRMWARE_DIR),
        width=WIDTH,
        height=HEIGHT,
        screens=list(SCREENS.items()),
        label_rows=label.rows.hex(),
        label_width=label.width,
        label_height=label.height,
        menu=MENU,
    )
    done = subprocess.run(
        [find_micropython(), "-c", program], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise SystemExit(f"micropython failed:\n{done.stderr}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for line in done.stdout.splitlines():
        name, frame = line.split()
        # MONO_HLSB is PIL's "1" raw mode: rows of bytes, most significant bit leftmost
        image = Image.frombytes("1", (WIDTH, HEIGHT), bytes.fromhex(frame))
        path = out_dir / f"{name}.png"
        image.resize((WIDTH * SCALE, HEIGHT * SCALE), Image.NEAREST).save(path)
        written.append(path)
    return written


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/render_screens.py OUT_DIR")
    for path in render(Path(sys.argv[1])):
        print(path)


if __name__ == "__main__":
    main()
