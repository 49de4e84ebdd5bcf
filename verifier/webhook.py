"""The webhook channel (docs/events.md): an event is an HTTP POST of its JSON envelope, signed
as Standard Webhooks (standardwebhooks.com) signs: HMAC-SHA256 with the shared secret over
`{id}.{timestamp}.{body}`, sent as `webhook-signature: v1,<base64>` beside `webhook-id` (the
event id, for de-duplication) and `webhook-timestamp` (Unix seconds, against replays). The same
value goes as `Baoling-Signature` too: one scheme under Baoling's own name and the one
Standard Webhooks' libraries read (docs/events.md, "The signature").

A 2xx answer delivers the event. A 4xx other than 408 and 429 says the receiver will never take
it: no retry. Anything else (5xx, 408, 429, a 3xx, which is never followed to another host, no
answer within the timeout, no connection) is retried by verifier/delivery.py.
"""

import base64
import binascii
import hashlib
import hmac
import time
from pathlib import Path

import httpx

from baoling.verifier.errors import DeliveryFailed, VerifierError

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64
_RETRIED_4XX = (408, 429)


class WebhookSecretError(VerifierError):
    """The webhook secret file is missing, unreadable or not a `whsec_` secret."""


def read_secret(path: Path) -> bytes:
    """The HMAC key of a Standard Webhooks secret file: `whsec_` and the base64 of 24 to 64
    random bytes. The message never shows the secret."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise WebhookSecretError(f"cannot read the webhook secret file {path}: {reason}") from None
    try:
        if not text.startswith(SECRET_PREFIX):
            raise ValueError
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise WebhookSecretError(
            f"the webhook secret file {path} does not hold {SECRET_PREFIX} and the base64 of "
            f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes"
        )
    return key


def signature(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class Webhook:
    """POSTs events to one URL, signed with one key; each attempt ends within `timeout_s`."""

    def __init__(self, url: str, key: bytes, timeout_s: float) -> None:
        self.url, self._key = url, key
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def send(self, event_id: str, body: bytes) -> None:
        """Deliver one event; DeliveryFailed says why not."""
        timestamp = int(time.time())
        signed = signature(self._key, event_id, timestamp, body)
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signed,
            "baoling-signature": signed,
        }
        try:
            answer = self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryFailed("no answer within the timeout", retry=True) from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"cannot reach the receiver: {exc}", retry=True) from None
        if answer.is_success:
            return
        status = answer.status_code
        refused = 400 <= status < 500 and status not in _RETRIED_4XX
        raise DeliveryFailed(f"the receiver answered {status}", retry=not refused)
