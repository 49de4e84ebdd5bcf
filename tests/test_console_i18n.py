"""The console's languages (verifier/console/i18n.py): which one Accept-Language and the switch's
cookie choose, and a Chinese text for every English text the pages show."""

import re
from pathlib import Path

import pytest

from baoling.verifier.console import app, i18n

CONSOLE = Path(app.__file__).resolve().parent


@pytest.mark.parametrize(
    ("cookie", "header", "chosen"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh", "zh-CN"),
        (None, "zh-Hans-CN", "zh-CN"),
        (None, "en-GB,zh-CN;q=0.5", "en"),
        (None, "fr-FR,zh-CN;q=0.7,en;q=0.3", "zh-CN"),  # the first the console has, by quality
        (None, "en;q=0.2,zh-CN;q=0.9", "zh-CN"),
        (None, "zh-CN;q=0", "en"),  # q=0: not wanted
        (None, "de,fr", "en"),
        (None, "zh-CN;q=bad", "en"),
        ("en", "zh-CN", "en"),  # the switch wins
        ("zh-CN", "en-US", "zh-CN"),
        ("klingon", "zh-CN", "zh-CN"),  # an unknown cookie is ignored
    ],
)
def test_the_language_chosen(cookie: str | None, header: str | None, chosen: str) -> None:
    assert i18n.choose(cookie, header) == chosen


def shown_texts() -> set[str]:
    """The English texts the templates pass to t(), and the messages the pages show."""
    texts: set[str] = set()
    for template in (CONSOLE / "templates").glob("*.html"):
        source = template.read_text()
        texts |= set(re.findall(r"""\bt\("([^"]+)"\)""", source))
        texts |= set(re.findall(r"""\bt\('([^']+)'\)""", source))
        texts |= set(re.findall(r'set title = "([^"]+)"', source))
    texts |= {name for name, _, _ in app.MENU}
    source = (CONSOLE / "app.py").read_text()
    texts |= set(re.findall(r'Refused\(\d+, "([^"]+)"\)', source))
    texts |= set(app._DONE.values()) | set(app._SIGN_IN_MESSAGES.values())
    texts |= set(app._HTTP_ERRORS.values()) | set(app._FILTER_ERRORS.values())
    return texts


def test_every_text_the_pages_show_has_its_chinese() -> None:
    texts = shown_texts()
    assert "Validations in the last hour" in texts and "The token is unlocked." in texts
    missing = sorted(t for t in texts if i18n.translate(i18n.CHINESE, t) == t)
    assert missing == []
