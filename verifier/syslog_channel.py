"""The syslog channel (docs/events.md, "Channels"): each event as one RFC 5424 message to a
collector (a SIEM), over UDP (one datagram) or TCP (octet-counting framing, RFC 6587).

`format_message` is pure. The message's MSGID is the event type, its structured data
`[baoling@32473 ...]` the event id and the data's plain fields (32473 is the private enterprise
number RFC 5612 sets aside for examples: Baoling has none of its own), and its MSG the whole
JSON envelope.
"""

import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

from baoling.verifier.channels_config import SyslogSettings
from baoling.verifier.errors import DeliveryFailed

SD_ID = "baoling@32473"
# RFC 5424 severities: 2 critical, 4 warning, 5 notice, 6 informational.
SEVERITY = {
    "audit.chain_broken": 2,
    "validation.replay": 4,
    "validation.failed_burst": 4,
    "token.locked": 4,
    "token.drift_far": 4,
    "validation.accepted": 6,
}
DEFAULT_SEVERITY = 5
_BOM = "\ufeff"


def _sd_value(value: Any) -> str:
    """A PARAM-VALUE: `"`, `\\` and `]` escaped (RFC 5424, 6.3.3)."""
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_message(event: dict[str, Any], settings: SyslogSettings, hostname: str) -> bytes:
    """One RFC 5424 SYSLOG-MSG of the envelope `event`."""
    severity = SEVERITY.get(event["type"], DEFAULT_SEVERITY)
    stamp = datetime.fromtimestamp(event["time"], UTC).isoformat(timespec="microseconds")
    params = {"id": event["id"]} | {
        key: value for key, value in event["data"].items() if value is not None
    }
    sd = "".join(f' {key}="{_sd_value(value)}"' for key, value in params.items())
    header = (
        f"<{settings.facility * 8 + severity}>1 {stamp.replace('+00:00', 'Z')} "
        f"{hostname[:255] or '-'} {settings.app_name} {os.getpid()} {event['type'][:32]}"
    )
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"{header} [{SD_ID}{sd}] {_BOM}{body}".encode()


class Syslog:
    """Sends events to one collector; a TCP connection is opened per message (events are few;
    a broken connection never holds a message back)."""

    def __init__(self, settings: SyslogSettings) -> None:
        self._settings = settings
        self._hostname = socket.gethostname()

    def send(self, event: dict[str, Any]) -> None:
        s = self._settings
        message = format_message(event, s, self._hostname)
        try:
            if s.protocol == "udp":
                with socket.socket(_family(s.host), socket.SOCK_DGRAM) as sock:
                    sock.sendto(message, (s.host, s.port))
            else:
                with socket.create_connection((s.host, s.port), timeout=s.timeout_seconds) as sock:
                    sock.sendall(b"%d " % len(message) + message)
        except OSError as exc:
            raise DeliveryFailed(
                f"cannot reach syslog {s.protocol} {s.host}:{s.port}: {exc.strerror or exc}",
                retry=True,
            ) from None


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][0]
    except OSError:
        return socket.AF_INET
