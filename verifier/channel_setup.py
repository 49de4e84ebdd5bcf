"""The channels a node delivers events through, made from its settings (docs/events.md): the
webhook of events_webhook_url, and the SMTP server, SMS gateway and syslog collector of the
events_config file. Every secret file is read here, so a missing one stops `serve` before it
starts, with one line naming the setting."""

import json
import time
import uuid

from baoling.core.urls import shown_url
from baoling.verifier.channels import Channels, Recipient
from baoling.verifier.delivery import Delivery, Retry
from baoling.verifier.email_channel import Mailer
from baoling.verifier.errors import DeliveryFailed
from baoling.verifier.event_metrics import EventMetrics
from baoling.verifier.events import EVENT_VERSION
from baoling.verifier.outbox import Outbox
from baoling.verifier.settings import Settings, SettingsError
from baoling.verifier.sms_channel import SmsGateway
from baoling.verifier.syslog_channel import Syslog
from baoling.verifier.templates import TEST_TYPE
from baoling.verifier.webhook import Webhook, read_secret


def webhook(settings: Settings) -> Webhook | None:
    """The webhook of the settings; None without one. A webhook without a readable secret is
    refused."""
    if settings.events_webhook_url is None:
        return None
    if settings.events_webhook_secret_file is None:
        raise SettingsError(
            "events_webhook_url is set but events_webhook_secret_file is not: a webhook's "
            "events are always signed (docs/events.md)"
        )
    key = read_secret(settings.events_webhook_secret_file)
    return Webhook(settings.events_webhook_url, key, settings.events_webhook_timeout_seconds)


def channels(
    settings: Settings, outbox: Outbox, metrics: EventMetrics | None = None
) -> Channels | None:
    """Every channel of the settings, routed by the events file; None when there is none."""
    config = settings.events()
    hook = webhook(settings)
    if hook is None and config.smtp is None and config.sms is None and config.syslog is None:
        return None
    return Channels(
        config,
        unsubscribed=settings.unsubscribed_types(),
        contact=outbox.contact,
        webhook=hook,
        mailer=None if config.smtp is None else Mailer(config.smtp),
        sms=None if config.sms is None else SmsGateway(config.sms),
        syslog=None if config.syslog is None else Syslog(config.syslog),
        metrics=metrics,
        limits=outbox,
        summary_max_age_s=settings.events_max_age_seconds,
    )


def delivery(
    settings: Settings, outbox: Outbox, metrics: EventMetrics | None = None
) -> Delivery | None:
    """The delivery worker of the settings' channels; None without a channel."""
    routes = channels(settings, outbox, metrics)
    if routes is None:
        return None
    config = settings.events()
    timeouts = [settings.events_webhook_timeout_seconds] + [
        part.timeout_seconds for part in (config.smtp, config.sms, config.syslog) if part
    ]
    retry = Retry(settings.events_retry_seconds, settings.events_max_age_seconds)
    # A claim outlives one attempt on the slowest channel twice over; after it, another node
    # may deliver the event (verifier/delivery.py stops a batch whose claim is running out).
    return Delivery(
        outbox,
        routes.send,
        retry,
        lease_s=2 * max(timeouts) + 1,
        idle=routes.flush,
        keep_s=settings.events_keep_seconds,
        prepare=routes.prepare,
    )


def send_test(settings: Settings, channel: str, to: str | None, language: str) -> list[str]:
    """Send a `channel.test` message through one channel now, not through the outbox; returns
    where it went. Anything missing or refused (a mail server that does not answer or refuses
    the login, a gateway that answers 4xx) is one SettingsError line naming the setting."""
    config = settings.events()
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": TEST_TYPE,
        "version": EVENT_VERSION,
        "time": time.time(),
        "data": {},
    }
    table = {"email": "smtp"}.get(channel, channel)
    where = "events_webhook_url" if channel == "webhook" else f"{settings.events_config}: {table}"
    try:
        if channel == "webhook":
            hook = webhook(settings)
            if hook is None:
                raise SettingsError("events_webhook_url is not set: there is no webhook to test")
            hook.send(str(event["id"]), json.dumps(event).encode())
            return [shown_url(hook.url, path=False)]
        if getattr(config, table) is None:
            named = settings.events_config or "events_config (not set)"
            raise SettingsError(f"{named}: there is no [{table}] table to test")
        if channel == "syslog":
            assert config.syslog is not None
            Syslog(config.syslog).send(event)
            return [f"{config.syslog.protocol} {config.syslog.host}:{config.syslog.port}"]
        addresses = [to] if to else config.addresses(channel)
        if not addresses:
            raise SettingsError(
                f"no address to send the test {channel} to: give --to, or a subscription with "
                "to = [addresses]"
            )
        routes = Channels(
            config,
            unsubscribed=frozenset(),
            contact=lambda realm, user: None,
            mailer=None if config.smtp is None else Mailer(config.smtp),
            sms=None if config.sms is None else SmsGateway(config.sms),
        )
        for address in addresses:
            routes.message(Recipient(channel, address, language), event)
        return addresses
    except DeliveryFailed as failed:
        raise SettingsError(f"{where}: {failed.reason}") from None
