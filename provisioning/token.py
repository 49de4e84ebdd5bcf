"""One token's operations, typed: what the protocol's ops mean to the host (docs/protocol.md).

Link moves lines; this layer builds each op's arguments, computes the MACs a locked token needs
and checks prove answers, so commands and the provisioning steps never touch JSON.
"""

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baoling.provisioning.errors import (
    BadPin,
    NotAToken,
    ProveMismatch,
    TokenError,
    TokenTimeout,
)
from baoling.provisioning.label_bitmap import LabelBitmap
from baoling.provisioning.link import Link
from baoling.provisioning.profile import Profile
from baoling.provisioning.protocol import (
    CHALLENGE_BYTES,
    DEVICE_PIN_VERSION,
    LABEL_BITMAP_VERSION,
    PROTOCOL_VERSION,
    drift_mac,
    drift_ppb,
    prove_mac,
    time_mac,
)
from baoling.provisioning.timesync import Exchange

HostClock = Callable[[], float]
BUTTON_TIMEOUT_S = 30  # the device's own default for wipe and guarded clock changes
PIN_HOLD_S = 60  # pin.set's hold_s: the device's own default (docs/protocol.md)


def system_clock_ms() -> float:
    """Host UTC in ms; the default HostClock (tests inject their own)."""
    return time.time() * 1000


@dataclass(frozen=True)
class TimeReading:
    """A time.get answer and the host clock around it."""

    exchange: Exchange
    trusted: bool
    drift_ppm: float
    synced_ms: int | None


class Token:
    """A token on an open Link; `info` is read once at start (serial, state, profiles)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        try:
            self.info: dict[str, Any] = link.call("info")
        except TokenTimeout:
            raise NotAToken(
                f"{link.port} does not answer as a Baoling token: is the token's firmware "
                "flashed (`baoling token flash`) and running, not stopped at the REPL?"
            ) from None
        # the newest version both sides speak: a token with older firmware gets its own version
        link.version = max(1, min(PROTOCOL_VERSION, int(self.info.get("protocol", 1))))

    @property
    def port(self) -> str:
        return self.link.port

    @property
    def serial(self) -> str:
        return str(self.info["serial"])

    @property
    def locked(self) -> bool:
        return self.info["state"] == "locked"

    def refresh(self) -> dict[str, Any]:
        self.info = self.link.call("info")
        return self.info

    def occupied_slots(self) -> list[int]:
        return [p["slot"] for p in self.info.get("profiles", [])]

    def read_time(self, clock: HostClock) -> TimeReading:
        sent = clock()
        result = self.link.call("time.get")
        received = clock()
        return TimeReading(
            Exchange(sent, result["time_ms"], received),
            bool(result["trusted"]),
            float(result["drift_ppm"]),
            result["synced_ms"],
        )

    def set_time(
        self,
        when_ms: Callable[[], int],
        admin_key: bytes | None,
        *,
        button_timeout_s: int = BUTTON_TIMEOUT_S,
    ) -> dict[str, Any]:
        """time.set to `when_ms()`, read as late as possible; MAC'd when the token is locked."""
        args: dict[str, Any] = {}
        nonce = self._nonce(admin_key)
        time_ms = when_ms()
        if admin_key is not None:
            mac = time_mac(admin_key, nonce, time_ms)
            args = {"nonce": nonce.hex(), "mac": mac.hex(), "timeout_s": button_timeout_s}
        return self.link.call(
            "time.set", {"time_ms": time_ms, **args}, wait_s=button_timeout_s if args else 0
        )

    def set_drift(
        self, drift_ppm: float, admin_key: bytes | None, *, button_timeout_s: int = BUTTON_TIMEOUT_S
    ) -> dict[str, Any]:
        ppb = drift_ppb(drift_ppm)
        args: dict[str, Any] = {"drift_ppm": ppb / 1000}
        if admin_key is not None:
            nonce = self._nonce(admin_key)
            mac = drift_mac(admin_key, nonce, ppb)
            args |= {"nonce": nonce.hex(), "mac": mac.hex(), "timeout_s": button_timeout_s}
        return self.link.call("drift.set", args, wait_s=button_timeout_s if admin_key else 0)

    def _nonce(self, admin_key: bytes | None) -> bytes:
        if admin_key is None:
            return b""
        return bytes.fromhex(self.link.call("time.nonce")["nonce"])

    @property
    def shows_label_bitmaps(self) -> bool:
        """Whether the token's firmware shows labels the font cannot draw (protocol 2 on)."""
        return self.link.version >= LABEL_BITMAP_VERSION

    @property
    def has_pin(self) -> bool:
        """Whether the token has a device PIN (info's `pin`, protocol 3 on)."""
        return bool(self.info.get("pin"))

    def check_pin_support(self) -> None:
        """Refuse before anything changes when the token's firmware has no device PIN."""
        if self.link.version < DEVICE_PIN_VERSION:
            raise TokenError(
                f"The token on {self.port} runs firmware {self.info.get('firmware', '?')} "
                f"(protocol {self.info.get('protocol', 1)}), which has no device PIN: update it "
                "(`baoling token flash`).",
                "old_protocol",
            )

    def set_pin(self, pin: str, old_pin: str | None, hold_s: int) -> dict[str, Any]:
        """pin.set: the device PIN, sent once (docs/protocol.md); old_pin to change it."""
        self.check_pin_support()
        args: dict[str, Any] = {"pin": check_pin(pin), "hold_s": hold_s}
        if old_pin is not None:
            args["old_pin"] = check_pin(old_pin)
        answer = self.link.call("pin.set", args)
        self.info["pin"] = True
        return answer

    def write(self, slot: int, profile: Profile, bitmap: LabelBitmap | None = None) -> None:
        """profile.write, then profile.label with `bitmap` when the label line needs one."""
        self.link.call(
            "profile.write",
            {
                "slot": slot,
                "secret": profile.secret_b32,
                "algorithm": profile.algorithm,
                "digits": profile.digits,
                "period": profile.period_s,
                "label": profile.label,
                "issuer": profile.issuer,
            },
        )
        if bitmap is not None:
            self.link.call(
                "profile.label",
                {
                    "slot": slot,
                    "width": bitmap.width,
                    "height": bitmap.height,
                    "bitmap": bitmap.rows.hex(),
                },
            )

    def prove(self, slot: int, profile: Profile) -> None:
        """Check that `slot` holds `profile`'s secret: HMAC over a fresh challenge, compared in
        constant time. Raises ProveMismatch otherwise."""
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        answer = self.link.call("profile.prove", {"slot": slot, "challenge": challenge.hex()})
        try:
            theirs = bytes.fromhex(answer["mac"])
        except (KeyError, TypeError, ValueError):
            raise TokenError(f"The token on {self.port} gave a malformed prove answer.") from None
        if not hmac.compare_digest(theirs, prove_mac(profile.algorithm, profile.secret, challenge)):
            raise ProveMismatch(
                f"Slot {slot} of the token on {self.port} does not hold that secret (its prove "
                "answer does not match).",
                "prove_mismatch",
            )

    def lock(self, admin_key: bytes) -> None:
        self.link.call("lock", {"admin_key": admin_key.hex()})

    def wipe(self, button_timeout_s: int = BUTTON_TIMEOUT_S) -> None:
        self.link.call("wipe", {"timeout_s": button_timeout_s}, wait_s=button_timeout_s)


def check_pin(pin: str) -> str:
    """A device PIN as the token takes it (4 to 8 digits 0-9), refused here before the token
    is touched; the message never repeats what was typed."""
    if not (4 <= len(pin) <= 8 and pin.isascii() and pin.isdigit()):
        raise BadPin("The PIN must be 4 to 8 digits.")
    return pin
