"""Delivering the outbox (verifier/outbox.py): a worker thread of the server claims due events,
sends each through a channel, and records the outcome. At least once: an event is finished only
after its channel took it, so a node killed mid-delivery leaves a claim that expires, and the
event is delivered again (receivers de-duplicate by event id).

Failures retry with exponential backoff and jitter until the event is older than the maximum
age, then it is dead: listed by `baoling verifier events list --dead`, replayed by `events
replay ID`.
"""

import logging
import math
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from baoling.verifier import store
from baoling.verifier.errors import DeliveryFailed, StoreError
from baoling.verifier.outbox import Due, Outbox

log = logging.getLogger(__name__)

BATCH = 50
MAX_DELAY_S = 3600.0
PRUNE_INTERVAL_S = 60.0
_MAX_ERROR = 500


@dataclass(frozen=True)
class Retry:
    """When to try a failed event again, and when to give up."""

    first_delay_s: float
    max_age_s: float
    max_delay_s: float = MAX_DELAY_S

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after the `attempts`-th failure: first_delay doubled per attempt, capped,
        then a random half of it taken off (so nodes and events do not retry in step). The cap
        is decided before doubling: 2 ** 1024 is past a float, and a long maximum age lets an
        event fail that often."""
        doublings = attempts - 1
        if doublings >= math.log2(self.max_delay_s / self.first_delay_s):
            full = self.max_delay_s
        else:
            full = self.first_delay_s * 2**doublings
        return full * (1 - rand() / 2)


def node_name() -> str:
    """This process's name in claims: host, pid and a random part."""
    return f"{socket.gethostname()[:40]}:{uuid.uuid4().hex[:8]}"


class Delivery:
    """Delivers one store's outbox through `send(due, done, deadline)` (verifier/channels.py),
    which adds each recipient that took the event to `done`, starts no message after `deadline`
    (Unix time) and raises DeliveryFailed if any recipient did not take it."""

    def __init__(
        self,
        outbox: Outbox,
        send: Callable[[Due, set[str], float], None],
        retry: Retry,
        *,
        lease_s: float,
        poll_s: float = 1.0,
        node: str | None = None,
        idle: Callable[[], object] | None = None,
        keep_s: float | None = None,
        prepare: Callable[[list[Due]], None] | None = None,
    ) -> None:
        """`idle` runs once per round (the channels' summaries of held-back messages);
        delivered events older than `keep_s` are pruned every PRUNE_INTERVAL_S; `prepare` sees
        each claimed batch before its events are sent (the channels count it against their
        rate limits in one go)."""
        self._outbox, self._send, self._retry, self._prepare = outbox, send, retry, prepare
        self._lease_s, self._poll_s, self._idle = lease_s, poll_s, idle
        self._keep_s, self._pruned = keep_s, 0.0
        self.node = node or node_name()

    def prune(self, now: float) -> int:
        """Delete delivered events older than keep_s, a batch at most; returns how many."""
        self._pruned = now
        if self._keep_s is None:
            return 0
        return self._outbox.prune(now - self._keep_s)

    def run_once(self) -> int:
        """Claim a batch of due events and attempt each; returns how many were attempted.
        Once half the claim's lease is gone no event, and no message of an event, starts: the
        rest is left for a later claim, so that nothing is sent that the lease may not cover
        (another node would send it too)."""
        started = time.time()
        claimed = self._outbox.claim(self.node, started, self._lease_s, BATCH)
        batch = [Due.of(row) for row in claimed]
        if batch and self._prepare is not None:
            self._prepare(batch)
        deadline = started + self._lease_s / 2
        attempted = 0
        for row, due in zip(claimed, batch, strict=True):
            if time.time() > deadline:
                break
            self._attempt(due, row.attempts, row.since, deadline)
            attempted += 1
        return attempted

    def _attempt(self, due: Due, attempts: int, since: float, deadline: float) -> None:
        done = set(due.done)
        try:
            self._send(due, done, deadline)
        except DeliveryFailed as failed:
            self._failed(due, attempts, since, done, failed)
            return
        except StoreError:  # the database is away: not this event's fault (see `run`)
            raise
        except Exception as exc:  # a bug, or an event this release cannot read: an attempt
            # that failed, so that it backs off and dies at the maximum age instead of staying
            # claimed and holding up the rest of its batch, claim after claim, for ever.
            log.exception("event %s could not be sent", due.id)
            reason = f"cannot send it: {type(exc).__name__} (the log has the details)"
            self._failed(due, attempts, since, done, DeliveryFailed(reason, retry=True))
            return
        self._outbox.finish(due.id, self.node, state=store.DELIVERED, now=time.time(), done=done)

    def _failed(
        self, due: Due, attempts: int, since: float, done: set[str], failed: DeliveryFailed
    ) -> None:
        """Record a failed attempt: pending again after the backoff, or dead when the next
        attempt would come after the maximum age or the receiver refused it for good."""
        now = time.time()
        error = failed.reason[:_MAX_ERROR]
        delay = self._retry.delay(attempts + 1)
        if not failed.retry or now + delay - since > self._retry.max_age_s:
            log.warning("event %s is dead: %s", due.id, error)
            self._outbox.finish(
                due.id, self.node, state=store.DEAD, now=now, error=error, done=done
            )
        else:
            log.warning("event %s not delivered, next attempt in %.0f s: %s", due.id, delay, error)
            self._outbox.finish(
                due.id,
                self.node,
                state=store.PENDING,
                now=now,
                due=now + delay,
                error=error,
                done=done,
            )

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set: at once while events are due, else every poll_s."""
        while not stop.is_set():
            try:
                busy = self.run_once() > 0
                if self._idle is not None:
                    self._idle()
                if time.time() - self._pruned >= PRUNE_INTERVAL_S:
                    self.prune(time.time())
            except StoreError as exc:  # the database is away: try again later
                log.warning("cannot deliver events: %s", exc)
                busy = False
            except Exception:  # a bug must not end delivery for good: log it, try again later
                log.exception("delivering events failed")
                busy = False
            if not busy:
                stop.wait(self._poll_s)
