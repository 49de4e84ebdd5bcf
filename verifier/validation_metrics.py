"""The validations counter, `baoling_validations_total{door, result, reason}`: every answer to a
code check that verifier/validation.py gives is counted there, once, whichever door the code came
through (docs/operations.md, "Metrics"). A door names itself around its call with `through`;
a call from Python (the CLI, an embedding server) counts as door "python"."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prometheus_client import Counter

HTTP, RADIUS, PRIVACYIDEA, CONSOLE, PYTHON = "http", "radius", "privacyidea", "console", "python"
# The reason counted for a code given for a token id that does not exist (HTTP's 404).
UNKNOWN_TOKEN = "unknown_token"

_DOOR: ContextVar[str] = ContextVar("baoling_validation_door", default=PYTHON)


@contextmanager
def through(door: str) -> Iterator[None]:
    """Count the checks made inside the with-block (in this thread or task, and in the worker
    threads it hands work to with its context) as coming through `door`."""
    token = _DOOR.set(door)
    try:
        yield
    finally:
        _DOOR.reset(token)


class ValidationCounts:
    """The counter, in no registry of its own: the HTTP app adds it to the registry /metrics
    shows (verifier/http/app.py), which the RADIUS server's series join."""

    def __init__(self) -> None:
        self.counter = Counter(
            "baoling_validations",
            "Answers to code checks, by door (http, radius, privacyidea, console, python), "
            "result (accept, reject) and reason (the engine's, such as wrong_code, replay or "
            "locked; rate_limited, unknown_user, unknown_token ...).",
            ["door", "result", "reason"],
            registry=None,
        )

    def count(self, accepted: bool, reason: str) -> None:
        """One answer, labelled with the door the current context names."""
        self.counter.labels(_DOOR.get(), "accept" if accepted else "reject", reason).inc()
