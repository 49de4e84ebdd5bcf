"""Routing events to their channels (docs/events.md, "Channels"): which recipients of which
channel take a claimed event (the subscriptions of the events file, verifier/channels_config.py),
the words of each message (verifier/templates.py), and the per-recipient rate limit that turns
a storm into a few messages, each with its count.

`Channels.send` is what the delivery worker (verifier/delivery.py) calls per event: every
recipient not yet in `done` is tried; those that take the event are added to `done`, so a retry
never sends a message twice to who already has it.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from baoling.verifier.channels_config import PERSONAL, EventsConfig, RateLimit, Subscription
from baoling.verifier.errors import DeliveryFailed
from baoling.verifier.event_metrics import EventMetrics
from baoling.verifier.outbox import Due
from baoling.verifier.templates import HELD_TYPE, render

log = logging.getLogger(__name__)


class Webhook(Protocol):
    def send(self, event_id: str, body: bytes) -> None: ...


class Mailer(Protocol):
    def send(self, event_id: str, to: str, subject: str, text: str, language: str) -> None: ...


class Sms(Protocol):
    def send(self, to: str, text: str) -> None: ...


class Syslog(Protocol):
    def send(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Recipient:
    """One place an event goes: a channel, and for e-mail and SMS an address and language.
    `key` names it in the outbox's `done` list."""

    channel: str
    address: str = ""
    language: str = "en"

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.address}" if self.address else self.channel


@dataclass
class _Window:
    start: float
    sent: int = 0
    held: dict[str, int] = field(default_factory=dict)


class RateLimiter:
    """At most `limit.messages` per recipient per window; the messages over it are counted per
    event type, and `ended` hands back the counts of windows that are over. Pure (the caller
    gives the time); per node, so N nodes may send up to N times the limit."""

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._windows: dict[str, _Window] = {}
        self._recipients: dict[str, Recipient] = {}
        self._over: list[tuple[Recipient, float, dict[str, int]]] = []

    def admit(self, recipient: Recipient, event_type: str, now: float) -> bool:
        """True when a message to `recipient` may go now; else it is counted as held back."""
        window = self._windows.get(recipient.key)
        if window is None or now - window.start >= self._limit.window_seconds:
            if window is not None and window.held:
                self._over.append((self._recipients[recipient.key], window.start, window.held))
            window = self._windows[recipient.key] = _Window(now)
            self._recipients[recipient.key] = recipient
        if window.sent < self._limit.messages:
            window.sent += 1
            return True
        window.held[event_type] = window.held.get(event_type, 0) + 1
        return False

    def ended(self, now: float) -> list[tuple[Recipient, float, dict[str, int]]]:
        """The windows that are over with messages held back: (recipient, start, counts)."""
        over, self._over = self._over, []
        for key, window in list(self._windows.items()):
            if now - window.start >= self._limit.window_seconds:
                del self._windows[key]
                recipient = self._recipients.pop(key)
                if window.held:
                    over.append((recipient, window.start, window.held))
        return over


class Channels:
    """Sends each event to the recipients its subscriptions give it."""

    def __init__(
        self,
        config: EventsConfig,
        *,
        unsubscribed: frozenset[str],
        contact: Callable[[str, str], tuple[str, str] | None],
        webhook: Webhook | None = None,
        mailer: Mailer | None = None,
        sms: Sms | None = None,
        syslog: Syslog | None = None,
        metrics: EventMetrics | None = None,
    ) -> None:
        """`unsubscribed`: the types a channel without subscriptions takes; `contact(realm,
        user)`: the user's (e-mail, phone), None when the user is gone."""
        self._config, self._unsubscribed, self._contact = config, unsubscribed, contact
        self._webhook, self._mailer, self._sms, self._syslog = webhook, mailer, sms, syslog
        self._limiter = RateLimiter(config.rate_limit)
        self._metrics = metrics

    def recipients(self, event_type: str, realm: str | None, user: str | None) -> list[Recipient]:
        """Where an event of this type, about a token of `user` in `realm`, goes."""
        found: list[Recipient] = []
        for channel in self._config.open_channels(self._webhook is not None):
            if event_type in self._unsubscribed:
                found.append(Recipient(channel))
        for subscription in self._config.subscriptions:
            if subscription.takes(event_type, realm):
                found.extend(self._addressed(subscription, realm, user))
        unique = {recipient.key: recipient for recipient in reversed(found)}
        return list(reversed(unique.values()))  # one message per recipient: the first wins

    def _addressed(
        self, subscription: Subscription, realm: str | None, user: str | None
    ) -> list[Recipient]:
        channel, language = subscription.channel, subscription.language
        if channel not in PERSONAL:
            return [Recipient(channel)]
        if subscription.to == "user":
            contact = None if realm is None or user is None else self._contact(realm, user)
            address = "" if contact is None else contact[0 if channel == "email" else 1]
            return [Recipient(channel, address, language)] if address else []
        return [Recipient(channel, address, language) for address in subscription.to or ()]

    def send(self, due: Due, done: set[str]) -> None:
        """Send the event to each of its recipients not in `done`; add those that took it.
        DeliveryFailed (retry if any failure may pass) when some did not."""
        event = json.loads(due.body)
        failures: list[DeliveryFailed] = []
        for recipient in self.recipients(event["type"], due.realm, due.user):
            if recipient.key in done:
                continue
            started = time.monotonic()
            try:
                self._send_one(recipient, event, due.body, time.time())
            except DeliveryFailed as failed:
                if self._metrics is not None:
                    self._metrics.failures.labels(recipient.channel).inc()
                failures.append(
                    DeliveryFailed(f"{recipient.key}: {failed.reason}", retry=failed.retry)
                )
                continue
            finally:
                if self._metrics is not None:
                    elapsed = time.monotonic() - started
                    self._metrics.seconds.labels(recipient.channel).observe(elapsed)
            done.add(recipient.key)
        if not failures and self._metrics is not None:
            self._metrics.lag.observe(max(0.0, time.time() - event["time"]))
        if failures:
            raise DeliveryFailed(
                "; ".join(f.reason for f in failures), retry=any(f.retry for f in failures)
            )

    def _send_one(
        self, recipient: Recipient, event: dict[str, Any], body: bytes, now: float
    ) -> None:
        channel = recipient.channel
        if channel == "webhook" and self._webhook is not None:
            self._webhook.send(event["id"], body)
        elif channel == "syslog" and self._syslog is not None:
            self._syslog.send(event)
        elif channel in PERSONAL:
            if self._limiter.admit(recipient, event["type"], now):
                self.message(recipient, event)
            else:
                log.info("held back %s for %s: over its rate limit", event["id"], recipient.key)

    def message(self, recipient: Recipient, event: dict[str, Any]) -> None:
        """Send one e-mail or SMS of the event in the recipient's language."""
        subject, text = self._config.template(event["type"], recipient.language)
        if recipient.channel == "email" and self._mailer is not None:
            self._mailer.send(
                event["id"],
                recipient.address,
                render(subject, event),
                render(text, event),
                recipient.language,
            )
        elif recipient.channel == "sms" and self._sms is not None:
            self._sms.send(recipient.address, render(text, event))

    def flush(self, now: float | None = None) -> int:
        """Send one summary per recipient whose rate-limit window ended with messages held
        back, with their count per event type; returns how many were sent."""
        now = time.time() if now is None else now
        sent = 0
        for recipient, start, held in self._limiter.ended(now):
            counts = ", ".join(f"{n} × {name}" for name, n in sorted(held.items()))
            event = {
                "id": f"held_{int(start)}",
                "type": HELD_TYPE,
                "time": start,
                "data": {"count": sum(held.values()), "counts": counts},
            }
            try:
                self.message(recipient, event)
                sent += 1
            except DeliveryFailed as failed:  # the events themselves went to the other channels
                log.warning("summary for %s not sent: %s", recipient.key, failed.reason)
        return sent
