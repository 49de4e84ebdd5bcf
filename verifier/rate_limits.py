"""Rate limits on validation by user name (docs/users.md, "Abuse control"): pure decisions.

A per-token lock that anyone can trigger by sending wrong codes for a user name is a lockout
weapon. So a code given with a user name is counted against three keys instead of the tokens:
the user from one source address, the user from anywhere, and the source address for every
user. Each key lets a few failures through, then makes its next attempt wait, the wait
doubling with each further failure up to a maximum that is far below a day. An attempt while
any of its keys waits is rejected without looking at the code (reason RATE_LIMITED; the
caller still hears only "reject"). A stranger's wrong codes from one address soon wait on
their own key, long before they make alice wait on hers.

The counts live in the store (verifier/store.py, `rate_limits`), so every node sees them; this
module holds only the rules: which keys an attempt has, which failures count, how long a key
waits after its n-th failure.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from baoling.verifier.engine import DIRECTORY_ERROR, DISABLED, LOCKED, REPLAY
from baoling.verifier.errors import InvalidRequest

# The reason of an attempt rejected because one of its keys waits.
RATE_LIMITED = "rate_limited"
# The kinds of key: a user from one source address, a user from anywhere, one source address.
USER_SOURCE, USER, SOURCE = "user_source", "user", "source"
# Rejections that do not count: a replay (a copy of a right code is no guess), a locked or
# disabled token (no code was tried), a directory error (the verifier's own problem) and an
# attempt already waiting. Every other rejection counts: a code or backup code tried and
# wrong, a name that leads to no token (spraying names), and any reason added later.
NOT_COUNTED = frozenset({REPLAY, LOCKED, DISABLED, DIRECTORY_ERROR, RATE_LIMITED})

DEFAULT_USER_SOURCE_AFTER = 3
DEFAULT_USER_AFTER = 10
DEFAULT_SOURCE_AFTER = 50
DEFAULT_DELAY_S = 2.0
DEFAULT_MAX_DELAY_S = 900.0  # a quarter of an hour: slowed, never locked out for the day
DEFAULT_WINDOW_S = 43_200.0  # half a day without a failure forgets a key's count


class Key(NamedTuple):
    """What a count is kept for (the store's row key); `user` or `source` is "" when the kind
    leaves it out."""

    kind: str
    user: str = ""
    source: str = ""


@dataclass(frozen=True)
class Count:
    """A key's consecutive failures, the last one's time, and until when it waits."""

    failures: int
    last_failure: float
    blocked_until: float | None


@dataclass(frozen=True)
class RateLimits:
    """How many failures each kind of key lets through before it waits (0: that kind is off),
    the first wait, the longest, and how long without a failure forgets a key's count."""

    user_source_after: int = DEFAULT_USER_SOURCE_AFTER
    user_after: int = DEFAULT_USER_AFTER
    source_after: int = DEFAULT_SOURCE_AFTER
    delay_s: float = DEFAULT_DELAY_S
    max_delay_s: float = DEFAULT_MAX_DELAY_S
    window_s: float = DEFAULT_WINDOW_S

    def __post_init__(self) -> None:
        for name in ("user_source_after", "user_after", "source_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRequest(f"{name} must be a whole number of at least 0")
        for name in ("delay_s", "max_delay_s", "window_s"):
            if not getattr(self, name) > 0:
                raise InvalidRequest(f"{name} must be more than 0")

    def after(self, kind: str) -> int:
        return {
            USER_SOURCE: self.user_source_after,
            USER: self.user_after,
            SOURCE: self.source_after,
        }[kind]

    def keys(self, user: str, source: str | None) -> tuple[Key, ...]:
        """The keys of an attempt for `user` from `source` (None: not known, as for a Python
        caller that gives none; only the user's own key then applies)."""
        found = [Key(USER, user=user)]
        if source is not None:
            found = [Key(USER_SOURCE, user, source), *found, Key(SOURCE, source=source)]
        return tuple(key for key in found if self.after(key.kind) > 0)

    def delay_s_after(self, kind: str, failures: int) -> float:
        """How long a key of `kind` waits after its `failures`-th consecutive failure: nothing
        before the kind's allowance is used up, then delay_s, doubling per failure, at most
        max_delay_s."""
        over = failures - self.after(kind)
        if over < 0:
            return 0.0
        return min(self.delay_s * 2.0 ** min(over, 64), self.max_delay_s)

    def forgotten_before(self, now: float) -> float:
        """A count whose last failure is older than this starts again from nothing."""
        return now - self.window_s


def waiting(counts: Mapping[Key, Count], now: float) -> Key | None:
    """The first key of an attempt that waits at `now` (its attempt is rejected untried), or
    None when the code may be tried."""
    for key, count in counts.items():
        if count.blocked_until is not None and now < count.blocked_until:
            return key
    return None


def cleared_by_accept(keys: tuple[Key, ...]) -> tuple[Key, ...]:
    """The keys an accepted code clears: the user's own, from that source and from anywhere.
    A source's count across users stays: one right code of an attacker's own account must not
    buy more guesses at others'."""
    return tuple(key for key in keys if key.kind != SOURCE)


__all__ = [
    "NOT_COUNTED",
    "RATE_LIMITED",
    "SOURCE",
    "USER",
    "USER_SOURCE",
    "Count",
    "Key",
    "RateLimits",
    "cleared_by_accept",
    "waiting",
]
