"""Screenshot every page of the web console, as docs/console.md shows them.

Usage: .venv/bin/python scripts/console_screenshots.py OUT_DIR   (docs/console/ is the committed
output)

Runs the browser harness the tests use (tests/console_browser.py): a verifier served on
127.0.0.1 from a temporary folder, headless Chromium, and `tour`, which fills the store with
sample data and opens each page of PAGES; each is saved as OUT_DIR/NAME.png.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package

from tests.console_browser import running_console, tour  # noqa: E402 (after the path)


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with running_console() as console:
        console.driver.set_window_size(1200, 900)
        for name in tour(console):
            height = console.driver.execute_script("return document.body.scrollHeight")
            console.driver.set_window_size(1200, max(600, min(int(height) + 40, 2400)))
            console.driver.save_screenshot(str(out_dir / f"{name}.png"))
            print(out_dir / f"{name}.png")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
