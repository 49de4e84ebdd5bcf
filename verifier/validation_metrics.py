"""The validations counter, `baoling_validations_total{door, result, reason}`: every answer to a
code check that verifier/validation.py gives is counted there, once, whichever door the code came
through (verifier/doors.py; docs/operations.md, "Metrics")."""

from prometheus_client import Counter

from baoling.verifier import doors

# The reason counted for a code given for a token id that does not exist (HTTP's 404).
UNKNOWN_TOKEN = "unknown_token"


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
        door = doors.current().name
        self.counter.labels(door, "accept" if accepted else "reject", reason).inc()
