"""Finding tokens: serial ports whose USB ids fit a MicroPython board, then an `info` probe.

USB ids narrow the search without opening unrelated devices; only the probe says a port is a
token. Ports named explicitly (the simulator's pty has no USB ids) are probed as they are.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from baoling.provisioning.errors import BaolingError
from baoling.provisioning.link import Link
from baoling.provisioning.token import Token

PROBE_TIMEOUT_S = 2.0

# Vendor id -> product ids (None: any product of that vendor).
USB_IDS: dict[int, frozenset[int] | None] = {
    0x2E8A: None,  # Raspberry Pi: the Pico's MicroPython USB CDC
    0xF055: None,  # MicroPython's own id (pyboard and ports that reuse it)
    0x303A: None,  # Espressif native USB (ESP32-S2/S3/C3)
    0x10C4: frozenset({0xEA60}),  # Silicon Labs CP210x bridge (many ESP32 boards)
    0x1A86: frozenset({0x7523, 0x55D4}),  # WCH CH340, CH9102 bridges
    0x0403: frozenset({0x6001, 0x6015}),  # FTDI FT232R, FT231X bridges
}


@dataclass(frozen=True)
class Found:
    """A port that was probed: `info` when a token answered, else `problem` says why not."""

    port: str
    info: dict[str, Any] | None
    problem: str = ""


def candidate_ports(listed: Iterable[ListPortInfo] | None = None) -> list[str]:
    """Serial ports (default: the system's) whose USB vendor/product id a token can have."""
    ports = []
    for port in list_ports.comports() if listed is None else listed:
        if port.vid in USB_IDS:
            products = USB_IDS[port.vid]
            if products is None or port.pid in products:
                ports.append(port.device)
    return sorted(ports)


def probe(port: str, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """The token's info, or NotAToken when the port answers nothing in the protocol."""
    with Link(port, timeout_s=timeout_s) as link:
        return Token(link).info


def find_tokens(ports: list[str] | None = None) -> list[Found]:
    """Probe `ports` (default: the USB candidates); each becomes a Found, token or not."""
    found = []
    for port in ports if ports else candidate_ports():
        try:
            found.append(Found(port, probe(port)))
        except BaolingError as exc:
            found.append(Found(port, None, str(exc)))
    return found
