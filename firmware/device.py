# The token's state machine: what each protocol operation does in each state (empty,
# provisioned, locked), the admin-key guard on the clock and its nonce, and which operations
# wait for the button (Confirm). No I/O of its own: main.py feeds it requests, waits for the
# press a Confirm asks for, and shows what changed.
import time

from micropython import const

import otp
from clock import BUILD_MS, END_MS
from protocol import (
    MAX_LINE,
    VERSION,
    Refused,
    choice,
    hexbytes,
    integer,
    number,
    only,
    text,
    usable,
)
from store import SLOTS

FIRMWARE = "0.2.0"  # public: provisioning/flash.py reads it to confirm a flash
_NONCE = const(16)  # nonce bytes
_NONCE_MS = const(60000)  # a nonce expires after this
_JUMP_MS = const(300000)  # a clock change after lock larger than this needs the button
_TIMEOUT_S = const(30)  # default button wait
_MAX_TIMEOUT_S = const(120)
_MAX_DRIFT_PPM = const(1000)
_KEY_MIN = const(10)  # secret bytes
_KEY_MAX = const(64)
_CHALLENGE_MIN = const(16)
_CHALLENGE_MAX = const(64)
_ADMIN_KEY = const(32)
_TEXT = const(32)  # label, issuer
_OPS = (
    "info",
    "time.get",
    "time.nonce",
    "time.set",
    "drift.set",
    "profile.write",
    "profile.label",
    "profile.prove",
    "profile.erase",
    "lock",
    "wipe",
)
_TIME_PREFIX = b"baoling-time-v1\x00"
_DRIFT_PREFIX = b"baoling-drift-v1\x00"


class Confirm:
    """An operation that runs only after a long press within timeout_s (wipe, big clock jump)."""

    def __init__(self, kind, timeout_s, action, value):
        self.kind = kind  # "wipe" or "time": which screen asks for the press
        self.timeout_s = timeout_s
        self.started = time.ticks_ms()
        self.pressed = False
        self._action = action
        self._value = value

    def run(self):
        """Carry the operation out: the press came."""
        return self._action(self._value, time.ticks_diff(time.ticks_ms(), self.started))


class Device:
    """Carries out protocol operations on the store and the clock."""

    def __init__(self, hw, store, clock):
        self._hw = hw
        self._store = store
        self._clock = clock
        self._nonce = None
        self._nonce_at = 0
        self.nonce_ms = _NONCE_MS
        self.started = time.ticks_ms()
        self.changed = True  # something the screen shows changed (main redraws)
        self.flash = None  # a status to show briefly after an operation: "locked", "wiped"

    def handle(self, op, args):
        """Return a result dict or a Confirm, or raise Refused (or store.StoreError).
        Operation "a.b" is method _a_b; only the names in _OPS are reachable."""
        if op not in _OPS:
            raise Refused("unknown_op", "unknown op: " + op[:32])
        return getattr(self, "_" + op.replace(".", "_"))(args)

    # --- operations -------------------------------------------------------------------------

    def _info(self, args):
        only(args, ())
        store = self._store
        return {
            "firmware": FIRMWARE,
            "protocol": VERSION,
            "board": self._hw.name,
            "serial": _hex(self._hw.unique_id()),
            "state": store.state(),
            "clock_trusted": self._clock.trusted(),
            "time_ms": self._clock.now_ms(),
            "uptime_ms": time.ticks_diff(time.ticks_ms(), self.started),
            "slots": SLOTS,
            "free_slots": store.free_slots(),
            "profiles": store.profiles(),
            "store": "corrupt" if store.corrupt() else "ok",
            "encrypted": store.encrypted,
            "max_line": MAX_LINE,
        }

    def _time_get(self, args):
        only(args, ())
        return self._clock.describe()

    def _time_nonce(self, args):
        import os

        only(args, ())
        self._nonce = os.urandom(_NONCE)
        self._nonce_at = time.ticks_ms()
        return {"nonce": _hex(self._nonce)}

    def _time_set(self, args):
        only(args, ("time_ms", "nonce", "mac", "timeout_s"))
        new = integer(args, "time_ms", BUILD_MS, END_MS - 1)
        return self._guarded(args, _TIME_PREFIX, new.to_bytes(8, "big"), new, self._apply_time, new)

    def _drift_set(self, args):
        only(args, ("drift_ppm", "nonce", "mac", "timeout_s"))
        ppm = number(args, "drift_ppm", -_MAX_DRIFT_PPM, _MAX_DRIFT_PPM)
        ppb = _round(ppm * 1000)
        value = (ppb & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")  # two's complement
        moved = self._clock.now_with(ppb)
        return self._guarded(args, _DRIFT_PREFIX, value, moved, self._apply_drift, ppb)

    def _guarded(self, args, prefix, value, moved_to, apply, new):
        """A clock change: free before lock; after lock the admin MAC, and the button for a
        change of more than _JUMP_MS or on an untrusted clock."""
        timeout_s = integer(args, "timeout_s", 1, _MAX_TIMEOUT_S, _TIMEOUT_S)
        if self._store.locked:
            self._authenticate(args, prefix, value)
            clock = self._clock
            if not clock.trusted() or abs(moved_to - clock.now_ms()) > _JUMP_MS:
                return Confirm("time", timeout_s, apply, new)
        return apply(new, 0)

    def _apply_time(self, new, waited_ms):
        clock = self._clock
        new += waited_ms
        self._store.set_clock(clock.drift_ppb, new)
        clock.set(new)
        self.changed = True
        return clock.describe()

    def _apply_drift(self, ppb, _waited_ms):
        clock = self._clock
        self._store.set_clock(ppb, clock.synced_ms)
        clock.drift_ppb = ppb
        self.changed = True
        return clock.describe()

    def _authenticate(self, args, prefix, value):
        """After lock: the admin-key MAC over the current nonce and the new value."""
        if "nonce" not in args or "mac" not in args:
            raise Refused("auth_failed", "nonce and mac required after lock")
        current = self._nonce
        self._nonce = None  # single use: any attempt ends the current nonce
        nonce = hexbytes(args, "nonce", _NONCE, _NONCE)
        mac = hexbytes(args, "mac", 32, 32)
        if (
            current is None
            or time.ticks_diff(time.ticks_ms(), self._nonce_at) > self.nonce_ms
            or nonce != current
        ):
            raise Refused("auth_failed", "nonce is not current")
        if not self._store.admin_mac_ok(prefix + nonce + value, mac):
            raise Refused("auth_failed", "mac does not match")

    def _profile_write(self, args):
        only(args, ("slot", "secret", "algorithm", "digits", "period", "label", "issuer"))
        slot = self._slot(args)
        algorithm = choice(args, "algorithm", ("sha1", "sha256", "sha512"), "sha1")
        digits = choice(args, "digits", (6, 7, 8), 6)
        period = integer(args, "period", 10, 300, 30)
        label = text(args, "label", _TEXT)
        issuer = text(args, "issuer", _TEXT)
        secret = args.get("secret")
        if type(secret) is not str:
            raise Refused("bad_args", "secret must be a base32 string")
        try:
            key = otp.b32decode(secret)
        except otp.OTPError:
            raise Refused("bad_secret", "secret is not valid base32")
        if not _KEY_MIN <= len(key) <= _KEY_MAX:
            raise Refused("bad_secret", "secret must be 10..64 bytes")
        store = self._store
        if store.locked and store.status(slot) is not None:
            raise Refused("slot_occupied", "slot %d is occupied and the token is locked" % slot)
        store.write(slot, key, algorithm, digits, period, label, issuer)
        self.changed = True
        return {"profile": store.describe(slot)}

    def _profile_label(self, args):
        import labels

        result = labels.write(self._store, self._slot(args), args)
        self.changed = True
        return result

    def _profile_prove(self, args):
        only(args, ("slot", "challenge"))
        slot = self._slot(args)
        challenge = hexbytes(args, "challenge", _CHALLENGE_MIN, _CHALLENGE_MAX)
        store = self._store
        usable(store.status(slot), slot)
        mac = store.prove(slot, challenge)
        usable(store.status(slot), slot)  # None: its file failed its check just now
        return {"mac": _hex(mac)}

    def _profile_erase(self, args):
        only(args, ("slot",))
        slot = self._slot(args)
        if self._store.locked:
            raise Refused("locked", "token is locked")
        if self._store.status(slot) is None:
            raise Refused("empty_slot", "slot %d is empty" % slot)
        self._store.erase(slot)
        self.changed = True
        return {"slot": slot}

    def _lock(self, args):
        only(args, ("admin_key",))
        key = hexbytes(args, "admin_key", _ADMIN_KEY, _ADMIN_KEY)
        if self._store.locked:
            raise Refused("locked", "token is locked")
        self._store.set_lock(key)
        self.changed = True
        self.flash = "locked"
        return {"state": "locked"}

    def _wipe(self, args):
        only(args, ("timeout_s",))
        timeout_s = integer(args, "timeout_s", 1, _MAX_TIMEOUT_S, _TIMEOUT_S)
        return Confirm("wipe", timeout_s, self._apply_wipe, None)

    def _apply_wipe(self, _value, _waited_ms):
        self._store.wipe()
        self._clock.drift_ppb = 0
        self._clock.synced_ms = None
        self._nonce = None
        self.changed = True
        self.flash = "wiped"
        return {"state": "empty"}

    # --- helpers ----------------------------------------------------------------------------

    def _slot(self, args):
        return integer(args, "slot", 0, SLOTS - 1)


def _round(x):
    """Nearest integer, halves away from zero (the same on every port)."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _hex(data):
    from binascii import hexlify

    return hexlify(data).decode()
