"""Routing events to their channels (docs/events.md, "Channels"): which recipients of which
channel take a claimed event (the subscriptions of the events file, verifier/channels_config.py),
the words of each message (verifier/templates.py), and the per-recipient rate limit that turns
a storm into a few messages, each with its count (counted in the store by verifier/outbox.py,
so that nodes share it and a crash loses no held count).

`Channels.send` is what the delivery worker (verifier/delivery.py) calls per event: every
recipient not yet in `done` is tried; those that take the event are added to `done`, so a retry
never sends a message twice to who already has it. Before it, `Channels.prepare` counts a whole
claimed batch against the rate limit, one store write per recipient and batch rather than one
per message (a storm's cost); a message `prepare` did not see is counted when it is sent.
"""

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from baoling.verifier.channels_config import PERSONAL, EventsConfig, Subscription
from baoling.verifier.errors import DeliveryFailed
from baoling.verifier.event_metrics import EventMetrics
from baoling.verifier.events import TOLD_WHEN_OPTED_IN
from baoling.verifier.outbox import Contact, Due, Held, Outbox
from baoling.verifier.templates import HELD_TYPE, render

log = logging.getLogger(__name__)

# Decisions `prepare` keeps for messages not sent yet (a batch cut short by its lease leaves
# some); past this many they are forgotten and counted again when sent (an over-count at worst).
MAX_DECIDED = 10_000

# How long a node holds the summaries it claimed (verifier/outbox.py, Outbox.held) before
# another node may send them: longer than any channel's timeout.
SUMMARY_LEASE_S = 120.0


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


class Channels:
    """Sends each event to the recipients its subscriptions give it."""

    def __init__(
        self,
        config: EventsConfig,
        *,
        unsubscribed: frozenset[str],
        contact: Callable[[str, str], Contact | None],
        webhook: Webhook | None = None,
        mailer: Mailer | None = None,
        sms: Sms | None = None,
        syslog: Syslog | None = None,
        metrics: EventMetrics | None = None,
        limits: Outbox | None = None,
        summary_max_age_s: float = math.inf,
    ) -> None:
        """`unsubscribed`: the types a channel without subscriptions takes; `contact(realm,
        user)`: the user's addresses and opt-in, None when the user is gone; `limits`: the outbox
        that counts the per-recipient rate limit (None: no limit, for `events test`);
        `summary_max_age_s`: how long a summary that fails is tried (events_max_age_seconds,
        as the events it counts)."""
        self._config, self._unsubscribed, self._contact = config, unsubscribed, contact
        self._summary_max_age_s = summary_max_age_s
        self._webhook, self._mailer, self._sms, self._syslog = webhook, mailer, sms, syslog
        self._metrics, self._limits = metrics, limits
        self._node = uuid.uuid4().hex[:16]  # this process's name in claims of summaries
        # (event id, recipient key) -> whether `prepare` let the message go
        self._decided: dict[tuple[str, str], bool] = {}

    def recipients(self, event_type: str, realm: str | None, user: str | None) -> list[Recipient]:
        """Where an event of this type, about a token of `user` in `realm`, goes."""
        found: list[Recipient] = []
        for channel in self._config.open_channels(self._webhook is not None):
            if event_type in self._unsubscribed:
                found.append(Recipient(channel))
        for subscription in self._config.subscriptions:
            if subscription.takes(event_type, realm):
                found.extend(self._addressed(subscription, realm, user))
            elif (
                event_type in TOLD_WHEN_OPTED_IN
                and subscription.to == "user"
                and subscription.covers(realm)
            ):
                # A user who opted in hears of it through the subscriptions that message users.
                found.extend(self._addressed(subscription, realm, user, opted_in=True))
        unique = {recipient.key: recipient for recipient in reversed(found)}
        return list(reversed(unique.values()))  # one message per recipient: the first wins

    def _addressed(
        self,
        subscription: Subscription,
        realm: str | None,
        user: str | None,
        *,
        opted_in: bool = False,
    ) -> list[Recipient]:
        """The subscription's recipients; with `opted_in`, only the event's user, if they
        asked to hear of every sign-in."""
        channel, language = subscription.channel, subscription.language
        if channel not in PERSONAL:
            return [Recipient(channel)]
        if subscription.to == "user":
            contact = None if realm is None or user is None else self._contact(realm, user)
            if contact is None or (opted_in and not contact.notify_accepted):
                return []
            address = contact.email if channel == "email" else contact.phone
            return [Recipient(channel, address, language)] if address else []
        return [Recipient(channel, address, language) for address in subscription.to or ()]

    def prepare(self, batch: Sequence[Due]) -> None:
        """Count the e-mails and SMS of a claimed batch against their recipients' rate limits
        now, in one transaction per recipient (and language) for the whole batch; `send`
        follows each message's decision."""
        if self._limits is None:
            return
        wanted: dict[tuple[str, str], list[tuple[str, Recipient, str]]] = {}
        for due in batch:
            event_type = json.loads(due.body)["type"]
            for recipient in self.recipients(event_type, due.realm, due.user):
                counted = (due.id, recipient.key) in self._decided or recipient.key in due.done
                if recipient.channel in PERSONAL and not counted:
                    group = wanted.setdefault((recipient.key, recipient.language), [])
                    group.append((due.id, recipient, event_type))
        if len(self._decided) > MAX_DECIDED:
            self._decided.clear()
        now = time.time()
        for group in wanted.values():
            go = self._admit(group[0][1], [event_type for _, _, event_type in group], now)
            for n, (event_id, recipient, _) in enumerate(group):
                self._decided[(event_id, recipient.key)] = n < go

    def send(self, due: Due, done: set[str], deadline: float = math.inf) -> None:
        """Send the event to each of its recipients not in `done`; add those that took it.
        DeliveryFailed (retry if any failure may pass) when some did not, or when `deadline`
        (Unix time) passed before their turn: the worker's claim may not cover another message,
        and the node that takes the event over would send it again."""
        event = json.loads(due.body)
        failures: list[DeliveryFailed] = []
        late = 0
        for recipient in self.recipients(event["type"], due.realm, due.user):
            if recipient.key in done:
                continue
            if time.time() > deadline:
                late += 1
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
        if late:
            reason = f"{late} recipients left for the next attempt: the claim ran short"
            failures.append(DeliveryFailed(reason, retry=True))
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
            admitted = self._decided.pop((event["id"], recipient.key), None)
            if admitted is None:  # not counted by `prepare`: count it alone
                admitted = self._admit(recipient, [event["type"]], now) == 1
            if admitted:
                self.message(recipient, event)
            else:
                log.info("held back %s for %s: over its rate limit", event["id"], recipient.key)

    def _admit(self, recipient: Recipient, kinds: list[str], now: float) -> int:
        """How many of these messages (their event types) to `recipient` may go now."""
        if self._limits is None:
            return len(kinds)
        limit = self._config.rate_limit
        return self._limits.admit(
            recipient.key,
            kinds,
            recipient.language,
            now,
            messages=limit.messages,
            window_s=limit.window_seconds,
        )

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
        back, with their count per event type (from any node's windows: the counts are in the
        store); returns how many were sent. A summary that fails is sent again once this
        node's claim on it ends, until its window is `summary_max_age_s` old; one the recipient
        refused for good (a mailbox that is gone), or that old, is dropped, as the events it
        counts are dead for that recipient too."""
        if self._limits is None:
            return 0
        now = time.time() if now is None else now
        window_s = self._config.rate_limit.window_seconds
        sent = 0
        for held in self._limits.held(self._node, now, window_s, SUMMARY_LEASE_S):
            try:
                self._summary(held)
            except DeliveryFailed as failed:  # the events themselves went to the other channels
                retry = failed.retry and now - held.start < self._summary_max_age_s
                given_up = "" if retry else ", given up"
                log.warning(
                    "summary for %s not sent%s: %s", held.recipient, given_up, failed.reason
                )
                if retry:
                    continue
            else:
                sent += 1
            self._limits.forget_summary(self._node, held)
        return sent

    def _summary(self, held: Held) -> None:
        channel, address = held.recipient.split(":", 1)
        counts = ", ".join(f"{n} × {name}" for name, n in sorted(held.counts.items()))
        event = {
            "id": f"held_{int(held.start)}",
            "type": HELD_TYPE,
            "time": held.start,
            "data": {"count": sum(held.counts.values()), "counts": counts},
        }
        self.message(Recipient(channel, address, held.language), event)
