"""Every page docs/console.md names, opened in a real headless Chromium with sample data by the
tour scripts/console_screenshots.py also takes (tests/console_browser.py): each renders without
a console message and asks no other host, and each has its screenshot in the docs."""

import re
from pathlib import Path

from tests.console_browser import PAGES, running_console, tour

DOCS = Path(__file__).resolve().parent.parent / "docs"


def documented_pages() -> list[str]:
    """The page names of docs/console.md's table of pages."""
    text = (DOCS / "console.md").read_text()
    table = text[text.index("| page | path |") : text.index("### sign-in")]
    return re.findall(r"^\| `([a-z-]+)` \|", table, flags=re.MULTILINE)


def test_every_documented_page_renders_without_a_console_error_or_another_host() -> None:
    assert documented_pages() == list(PAGES)
    seen = []
    with running_console() as console:
        for name in tour(console):
            seen.append(name)
            assert console.driver.find_element("tag name", "h1").text, name
            assert console.console_errors() == [], name
            requested = console.requested_urls()
            assert console.foreign(requested) == [], name
    assert seen == list(PAGES)


def test_every_documented_page_has_its_screenshot() -> None:
    text = (DOCS / "console.md").read_text()
    for name in PAGES:
        assert f"### {name}\n" in text
        assert f"](console/{name}.png)" in text
        assert (DOCS / "console" / f"{name}.png").stat().st_size > 5000
