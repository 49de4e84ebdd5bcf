"""The events the verifier reports to its channels (docs/events.md): typed, versioned models with
stable names, and the envelope each is delivered in.

Pure: no I/O. An event says what happened to which token (and user), never a code, a secret,
a PIN or an API key: no model here has a field that could hold one, and a test scans every
delivered payload for them. A field is only ever added to a version; renaming or removing one
makes a new version.
"""

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from baoling.verifier.options import (
    DEFAULT_EVENTS_DRIFT_FAR_SECONDS,
    DEFAULT_EVENTS_FAILED_BURST,
    DEFAULT_EVENTS_FAILED_BURST_SECONDS,
)

EVENT_VERSION = 1


class EventData(BaseModel):
    """What one kind of event carries; `name` is its stable type name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    # Published in docs/events.md; tests/test_events.py checks that each one validates.
    example: ClassVar[dict[str, Any]]


class TokenEvent(EventData):
    """An event about one token."""

    token: str = Field(description="The token's id.")


class CameThrough(EventData):
    """Where a code came from (verifier/doors.py), so the person it concerns can tell whether
    it was them."""

    door: str | None = Field(
        None, description="The door: http, radius, privacyidea, console or python."
    )
    client: str | None = Field(
        None,
        description="The client the door knows: the RADIUS client's name, the API key's name, "
        "the console account; null when it knows none.",
    )
    source: str | None = Field(
        None, description="The address the request came from; null when not known."
    )


class CodeEvent(TokenEvent, CameThrough):
    """An event about a token's code someone gave: who it came with and where it came from."""

    user: str | None = Field(None, description="The user name the code came with, if any.")


class ValidationAccepted(CodeEvent):
    """A code was accepted (opt-in: setting events_validation_accepted)."""

    name = "validation.accepted"
    example = {
        "token": "TK0001-1",
        "user": "alice@example.com",
        "door": "radius",
        "client": "vpn",
        "source": "10.1.2.3",
    }


class ValidationReplay(CodeEvent):
    """A code that had already been accepted (or an older one) was given again."""

    name = "validation.replay"
    example = {
        "token": "TK0001-1",
        "user": None,
        "door": "http",
        "client": "web-login",
        "source": "203.0.113.7",
    }


class TokenLocked(TokenEvent):
    """Consecutive failures locked the token."""

    name = "token.locked"
    example = {"token": "TK0001-1", "fail_count": 10, "locked_until": 1767225600.0}
    fail_count: int
    locked_until: float = Field(description="Unix time the lock ends.")


class TokenUnlocked(TokenEvent):
    """An administrator cleared the token's failures and lock."""

    name = "token.unlocked"
    example = {"token": "TK0001-1"}


class TokenEnrolled(TokenEvent):
    """A token was enrolled (one by one, or from a PSKC file)."""

    name = "token.enrolled"
    example = {
        "token": "TK0001-1",
        "source": "enrol",
        "algorithm": "sha1",
        "digits": 6,
        "period": 30,
    }
    source: str = Field(description="enrol or pskc.")
    algorithm: str
    digits: int
    period: int


class TokenDisabled(TokenEvent):
    """An administrator disabled the token: it accepts no code until enabled."""

    name = "token.disabled"
    example = {"token": "TK0001-1"}


class TokenDeleted(TokenEvent):
    """An administrator deleted the token."""

    name = "token.deleted"
    example = {"token": "TK0001-1"}


class ValidationFailedBurst(TokenEvent):
    """Many failed codes for one token within a window: reported when the count reaches the
    threshold, then each time it doubles within the same window (so a storm of failures
    yields a handful of events, each with its count)."""

    name = "validation.failed_burst"
    example = {"token": "TK0001-1", "failures": 40, "window_start": 1767225600.0}
    failures: int = Field(description="Failed codes since window_start.")
    window_start: float = Field(description="Unix time the counting window began.")


class TokenDriftFar(TokenEvent):
    """An accepted code moved the token's learned clock offset beyond the threshold."""

    name = "token.drift_far"
    example = {"token": "TK0001-1", "offset_seconds": 95.0, "threshold_seconds": 90.0}
    offset_seconds: float = Field(description="The learned offset (token ahead: positive).")
    threshold_seconds: float


class TokenAssigned(TokenEvent):
    """An administrator gave the token to a user."""

    name = "token.assigned"
    example = {"token": "TK0001-1", "user": "alice@example.com", "role": "primary"}
    user: str
    role: str = Field(description="primary or spare.")


class AuditChainBroken(EventData):
    """A verify of the audit trail (on demand or periodic) found the hash chain broken."""

    name = "audit.chain_broken"
    example = {"rows_checked": 1200, "problem": "row 812: its hash does not match its content"}
    rows_checked: int
    problem: str


class AdminKeyCreated(EventData):
    """An API key was created (never the key: its id, name and scopes)."""

    name = "admin.key_created"
    example = {"key_id": "3f9c2a7b1d4e5f60", "key_name": "vpn-gateway", "scopes": ["validate"]}
    key_id: str = Field(description="The key's public id (the bl_<id>_ part), not the key.")
    key_name: str = Field(description="The name the administrator gave it.")
    scopes: list[str]


class BackupCodesIssued(EventData):
    """Backup codes were issued for a user whose token is lost (never the codes)."""

    name = "backup_codes.issued"
    example = {"user": "alice@example.com", "count": 10, "expires": 1767225600.0}
    user: str
    count: int
    expires: float = Field(description="Unix time the codes expire.")


class BackupCodeUsed(CameThrough):
    """One of a user's backup codes was accepted: a sign-in without their token (never the
    code)."""

    name = "backup_code.used"
    example = {
        "user": "alice@example.com",
        "left": 9,
        "door": "radius",
        "client": "vpn",
        "source": "10.1.2.3",
    }
    user: str
    left: int = Field(description="How many of the user's backup codes are still unused.")


EVENT_TYPES: dict[str, type[EventData]] = {
    model.name: model
    for model in (
        ValidationAccepted,
        ValidationReplay,
        ValidationFailedBurst,
        TokenLocked,
        TokenUnlocked,
        TokenEnrolled,
        TokenAssigned,
        TokenDriftFar,
        TokenDisabled,
        TokenDeleted,
        AuditChainBroken,
        AdminKeyCreated,
        BackupCodesIssued,
        BackupCodeUsed,
    )
}
# Reported only when asked for (setting events_validation_accepted): one row per accepted code.
OPT_IN = frozenset({ValidationAccepted.name})
# What a user who opted in (notify_accepted) hears of through every subscription that messages
# their realm's users, whatever types it lists: each sign-in of theirs, by token or backup code.
TOLD_WHEN_OPTED_IN = OPT_IN | {BackupCodeUsed.name}


class Envelope(BaseModel):
    """An event as delivered: its unique id (for de-duplication), type, version, time (Unix
    seconds) and data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    type: str
    version: int
    time: float
    data: dict[str, Any]


def envelope(data: EventData, now: float) -> Envelope:
    """A new event with a fresh random id."""
    return Envelope(
        id=f"evt_{uuid.uuid4().hex}",
        type=data.name,
        version=EVENT_VERSION,
        time=now,
        data=data.model_dump(mode="json"),
    )


@dataclass(frozen=True)
class EventRules:
    """When the events that need a threshold are reported (settings events_failed_burst,
    events_failed_burst_seconds, events_drift_far_seconds)."""

    failed_burst: int = DEFAULT_EVENTS_FAILED_BURST
    failed_burst_window_s: float = DEFAULT_EVENTS_FAILED_BURST_SECONDS
    drift_far_s: float = DEFAULT_EVENTS_DRIFT_FAR_SECONDS


def burst_reached(failures: int, threshold: int) -> bool:
    """True at the threshold and each time the count doubles (N, 2N, 4N, ...): a storm of
    failures is a handful of events, each with its count."""
    if failures < threshold or failures % threshold:
        return False
    multiple = failures // threshold
    return multiple & (multiple - 1) == 0


def drifted_far(before_s: float, after_s: float, threshold_s: float) -> bool:
    """True when the offset crosses the threshold (either way from zero), not while it stays
    beyond it."""
    return abs(after_s) > threshold_s >= abs(before_s)
