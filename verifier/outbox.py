"""The durable events outbox (docs/events.md): an event is one row written in the transaction of
the change it reports, so a rolled-back change leaves no event and a committed one always has
its event; a delivery worker (verifier/delivery.py) claims and delivers the rows afterwards, off
the request path.

Only event types some channel takes are written (`types`), so without a channel, or with
`validation.accepted` not asked for, a validation writes nothing more.
"""

import collections
import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection, Row

from baoling.verifier import store
from baoling.verifier.drift import Drift
from baoling.verifier.errors import InvalidRequest, UnknownEvent
from baoling.verifier.events import (
    EventData,
    EventRules,
    TokenDriftFar,
    ValidationFailedBurst,
    burst_reached,
    drifted_far,
    envelope,
)
from baoling.verifier.user_names import UserName

LIST_LIMIT = 100
PRUNE_BATCH = 1000


def _info(row: Row[Any]) -> dict[str, Any]:
    """An event row as administrators see it."""
    return {
        "id": row.id,
        "type": row.type,
        "state": row.state,
        "created": row.created,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "realm": row.realm,
        "user": row.owner,
        "done": _written(row.done, []),
        "event": _written(row.body, None),
    }


def _written(text: str | bytes | None, unreadable: Any) -> Any:
    """The JSON the outbox wrote, or `unreadable` for a row changed by hand that holds none:
    one damaged row must not hide every other event from `events list`."""
    try:
        return unreadable if text is None else json.loads(text)
    except ValueError:
        return unreadable


@dataclass(frozen=True)
class Due:
    """A claimed event: its id, envelope (JSON bytes), the realm and name of its token's user
    when it was written, and the recipients that took it in earlier attempts."""

    id: str
    body: bytes
    realm: str | None
    user: str | None
    done: frozenset[str]

    @classmethod
    def of(cls, row: Row[Any]) -> "Due":
        # A damaged list of recipients (a row changed by hand) is taken as none: at worst they
        # hear of the event twice; raising here would stop the whole batch, claim after claim.
        done = frozenset(_written(row.done, []))
        return cls(row.id, row.body.encode(), row.realm, row.owner, done)


class Contact(NamedTuple):
    """What messages to a user need: the addresses, and whether the user asked to hear of
    every accepted code (validation.accepted)."""

    email: str
    phone: str
    notify_accepted: bool


@dataclass(frozen=True)
class Held:
    """The messages a recipient's rate limit held back in one window that is over, by event
    type: what its summary counts. `recipient` is a channels.Recipient's key."""

    recipient: str
    language: str
    start: float
    counts: dict[str, int] = field(default_factory=dict)


class Outbox:
    """The events of one store: written with their change, claimed, finished, listed."""

    def __init__(
        self,
        db: store.Store,
        types: frozenset[str],
        rules: EventRules | None = None,
        per_user: frozenset[str] = frozenset(),
    ) -> None:
        """`types`: the event types recorded; `per_user`: those recorded only for a user who
        opted in (events.TOLD_WHEN_OPTED_IN where messages go to users)."""
        self._store, self.types, self.rules = db, types, rules or EventRules()
        self.per_user = per_user - types

    @property
    def recorded_types(self) -> frozenset[str]:
        """Every event type `emit` may write: a validation that may emit none of them needs
        no transaction for its events (verifier/validation.py)."""
        return self.types | self.per_user

    def emit(
        self, conn: Connection, data: EventData, now: float, user: UserName | None = None
    ) -> None:
        """Write the event in `conn`'s transaction, if a channel takes its type, with the
        realm and name of the token's user (per-realm subscriptions, messages to the user):
        `user` when the caller gives it (an event about a user, or a token just given to one:
        no lookup), else the token's user read in `conn`. A type recorded only for users who
        opted in reads the user's row either way."""
        opted = data.name in self.per_user
        if data.name in self.types or opted:
            event = envelope(data, now)
            token = getattr(data, "token", None)
            realm: str | None
            name: str | None
            if user is not None and not opted:
                realm, name = user.realm, user.name
            else:
                if user is not None:
                    owner = store.get_user(conn, user.realm, user.name)
                else:
                    owner = None if token is None else store.token_owner(conn, token)
                if opted and (owner is None or not owner.notify_accepted):
                    return
                realm, name = (None, None) if owner is None else (owner.realm, owner.name)
            store.insert_event(
                conn, event.id, event.type, event.model_dump_json(), now, realm, name
            )

    def planned(
        self, kind: type[EventData], now: float, *, if_changed: bool, **fields: Any
    ) -> store.PlannedEvent | None:
        """A `kind` event of `fields` as a row of a validation's one statement (verifier/
        audit.py, `append_at_once`), which looks up the token's user as `emit` does; None
        (and no event built) when no channel takes its type."""
        if kind.name not in self.recorded_types:
            return None
        event = envelope(kind(**fields), now)
        body = event.model_dump_json()
        opted = kind.name in self.per_user
        return store.PlannedEvent(if_changed, event.id, event.type, body, opted)

    def failure(self, conn: Connection, token_id: str, now: float) -> None:
        """Count a failed code of the token in `conn`'s transaction and report a burst
        (validation.failed_burst) at the threshold and each doubling within the window.
        Nothing is counted while no channel takes that event."""
        if ValidationFailedBurst.name not in self.types:
            return
        window_s = self.rules.failed_burst_window_s
        failures, start = store.count_burst(conn, token_id, now, window_s)
        if burst_reached(failures, self.rules.failed_burst):
            burst = ValidationFailedBurst(token=token_id, failures=failures, window_start=start)
            self.emit(conn, burst, now)

    def drift(
        self, conn: Connection, token_id: str, before: Drift, after: Drift, now: float
    ) -> None:
        """Report token.drift_far when an accepted code moved the learned offset beyond the
        threshold."""
        far = self.drift_far(token_id, before, after, now)
        if far is not None:
            self.emit(conn, far, now)

    def drift_far(
        self, token_id: str, before: Drift, after: Drift, now: float
    ) -> TokenDriftFar | None:
        """The token.drift_far event of an accept that moved the offset from `before` to
        `after`, if that moved it beyond the threshold."""
        old_s, new_s = before.offset_at(now), after.offset_at(now)
        if not drifted_far(old_s, new_s, self.rules.drift_far_s):
            return None
        return TokenDriftFar(
            token=token_id, offset_seconds=round(new_s, 1), threshold_seconds=self.rules.drift_far_s
        )

    def backlog(self) -> int:
        """Events waiting for delivery."""
        return self.count(store.PENDING)

    def count(self, state: str) -> int:
        """How many events are in one state (pending, delivered, dead), however many."""
        with self._store.read() as conn:
            return store.count_events(conn, state)

    def prune(self, before: float, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` events delivered before `before` (Unix time)."""
        with self._store.concurrent_write() as conn:
            return store.prune_events(conn, before, limit)

    def claim(self, node: str, now: float, lease_s: float, limit: int) -> list[Row[Any]]:
        """Due events for `node` to deliver within `lease_s` seconds (store.claim_events)."""
        with self._store.concurrent_write() as conn:
            return store.claim_events(conn, node, now, now + lease_s, limit)

    def finish(
        self,
        event_id: str,
        node: str,
        *,
        state: str,
        now: float,
        due: float | None = None,
        error: str | None = None,
        done: Collection[str] = (),
    ) -> bool:
        """Record a delivery attempt and the recipients that took the event so far; False when
        `node` no longer held the claim."""
        taken = json.dumps(sorted(done)) if done else None
        with self._store.concurrent_write() as conn:
            return store.finish_event(
                conn, event_id, node, state=state, now=now, due=due, error=error, done=taken
            )

    def admit(
        self,
        recipient: str,
        kinds: Sequence[str],
        language: str,
        now: float,
        *,
        messages: int,
        window_s: float,
    ) -> int:
        """Count messages to `recipient` (the event type of each, in order) against its rate
        limit (docs/events.md, "Alert hygiene"), in the store so that every node shares one
        count, in one transaction however many there are: returns how many of them, from the
        first, may go now; the rest are counted, by type, for the summary of their window
        (kept across crashes)."""
        with self._store.concurrent_write() as conn:
            start, sent = store.admit_message(conn, recipient, now, window_s, len(kinds))
            go = max(0, min(len(kinds), messages - (sent - len(kinds))))
            for event_type, count in collections.Counter(kinds[go:]).items():
                store.hold_message(conn, recipient, start, event_type, language, count)
            return go

    def held(self, node: str, now: float, window_s: float, lease_s: float) -> list[Held]:
        """The held-back counts of windows that are over, claimed for `node` for `lease_s`
        (another node takes them over after that: a node that dies before their summary went
        loses none); `forget_summary` forgets one (sent, or refused for good)."""
        with self._store.concurrent_write() as conn:
            rows = store.claim_held(conn, node, now, window_s, now + lease_s)
        found: dict[tuple[str, float], Held] = {}
        for row in rows:
            key = (row.recipient, row.start)
            held = found.setdefault(key, Held(row.recipient, row.language, row.start))
            held.counts[row.event_type] = row._mapping["count"]  # .count is the tuple's method
        return list(found.values())

    def forget_summary(self, node: str, held: Held) -> None:
        with self._store.concurrent_write() as conn:
            store.drop_held(conn, node, held.recipient, held.start)

    def contact(self, realm: str, name: str) -> Contact | None:
        """The e-mail, phone and opt-in of a user, for messages to the token's user; None when
        the user is gone or deactivated."""
        with self._store.read() as conn:
            row = store.get_user(conn, realm, name)
        if row is None or not row.active:
            return None
        return Contact(row.email, row.phone, row.notify_accepted)

    def list_events(
        self, state: str | None = None, limit: int = LIST_LIMIT
    ) -> list[dict[str, Any]]:
        """The newest events, of one state (pending, delivered, dead) or all."""
        with self._store.read() as conn:
            return [_info(row) for row in store.list_events(conn, state, limit)]

    def replay(self, event_id: str) -> None:
        """Deliver a dead event again, as if it were new (its maximum age starts again)."""
        with self._store.concurrent_write() as conn:
            found = store.replay_event(conn, event_id, time.time())
        if found is None:
            raise UnknownEvent(f"no event {event_id!r} is in the outbox")
        if found != store.DEAD:
            raise InvalidRequest(f"event {event_id!r} is {found}, not dead: only dead ones replay")
