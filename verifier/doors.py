"""Which door a code came through: the door's name, the client it knows (a RADIUS client's name,
an API key's name, a console account) and the address the request came from. A door names
itself around its call with `through`; verifier/validation.py reads `current()` for the
validations counter (verifier/validation_metrics.py) and for the events of an accepted or
replayed code ("your token was used at 10:02 by VPN from 10.1.2.3", docs/events.md). A call
from Python (the CLI, an embedding server) comes through door "python", with no client or
address."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

HTTP, RADIUS, PRIVACYIDEA, CONSOLE, PYTHON = "http", "radius", "privacyidea", "console", "python"


@dataclass(frozen=True)
class Door:
    name: str
    client: str | None = None
    source: str | None = None


_PYTHON_API = Door(PYTHON)
_CURRENT: ContextVar[Door | None] = ContextVar("baoling_door", default=None)


@contextmanager
def through(name: str, client: str | None = None, source: str | None = None) -> Iterator[None]:
    """Make the checks inside the with-block (in this thread or task, and in the worker
    threads it hands work to with its context) come through this door."""
    token = _CURRENT.set(Door(name, client, source))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> Door:
    return _CURRENT.get() or _PYTHON_API
