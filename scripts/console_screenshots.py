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

WIDTH = 1200  # CSS pixels


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with running_console() as console:
        driver = console.driver
        for name in tour(console):
            # The whole page, however long: a 1200 px wide viewport, then as tall as the page.
            viewport = {"width": WIDTH, "height": 600, "deviceScaleFactor": 1, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
            content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            viewport["height"] = min(max(600, int(content["height"])), 3000)
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
            driver.save_screenshot(str(out_dir / f"{name}.png"))
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
            print(out_dir / f"{name}.png")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
