# The operations a host uses to provision a token (docs/protocol.md): setting the clock and
# its drift under the admin key, writing and erasing profiles, lock, wipe, the device PIN.
# Apart from device.py because a token in use never needs them: device.py imports this module
# for one request and app.py drops it afterwards, so showing codes and proving never hold its
# code in the heap (docs/firmware-memory.md). Each function takes the Device and the args.
import time

from micropython import const

import otp
from clock import BUILD_MS, END_MS
from device import Confirm
from protocol import Refused, choice, hexbytes, integer, number, only, text

_NONCE = const(16)  # nonce bytes
_JUMP_MS = const(300000)  # a clock change after lock larger than this needs the button
_TIMEOUT_S = const(30)  # default button wait
_MAX_TIMEOUT_S = const(120)
_MAX_DRIFT_PPM = const(1000)
_KEY_MIN = const(10)  # secret bytes
_KEY_MAX = const(64)
_ADMIN_KEY = const(32)
_TEXT = const(32)  # label, issuer
_MIN_SLEEP_S = const(5)
_MAX_SLEEP_S = const(3600)
_TIME_PREFIX = b"baoling-time-v1\x00"
_DRIFT_PREFIX = b"baoling-drift-v1\x00"


def time_set(dev, args):
    only(args, ("time_ms", "nonce", "mac", "timeout_s"))
    new = integer(args, "time_ms", BUILD_MS, END_MS - 1)
    return _guarded(dev, args, _TIME_PREFIX, new.to_bytes(8, "big"), new, _apply_time, new)


def drift_set(dev, args):
    only(args, ("drift_ppm", "nonce", "mac", "timeout_s"))
    ppm = number(args, "drift_ppm", -_MAX_DRIFT_PPM, _MAX_DRIFT_PPM)
    ppb = _round(ppm * 1000)
    value = (ppb & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")  # two's complement
    moved = dev._clock.now_with(ppb)
    return _guarded(dev, args, _DRIFT_PREFIX, value, moved, _apply_drift, ppb)


def _guarded(dev, args, prefix, value, moved_to, apply, new):
    """A clock change: free before lock; after lock the admin MAC, and the button for a
    change of more than _JUMP_MS or on an untrusted clock."""
    timeout_s = integer(args, "timeout_s", 1, _MAX_TIMEOUT_S, _TIMEOUT_S)
    if dev._store.locked:
        _authenticate(dev, args, prefix, value)
        clock = dev._clock
        if not clock.trusted() or abs(moved_to - clock.now_ms()) > _JUMP_MS:
            return Confirm(dev, "time", timeout_s, apply, new)
    return apply(dev, new, 0)


def _apply_time(dev, new, waited_ms):
    clock = dev._clock
    new += waited_ms
    dev._store.set_clock(clock.drift_ppb, new)
    clock.set(new)
    dev.changed = True
    return clock.describe()


def _apply_drift(dev, ppb, _waited_ms):
    clock = dev._clock
    dev._store.set_clock(ppb, clock.synced_ms)
    clock.drift_ppb = ppb
    dev.changed = True
    return clock.describe()


def _authenticate(dev, args, prefix, value):
    """After lock: the admin-key MAC over the current nonce and the new value."""
    if "nonce" not in args or "mac" not in args:
        raise Refused("auth_failed", "nonce and mac required after lock")
    current = dev._nonce
    dev._nonce = None  # single use: any attempt ends the current nonce
    nonce = hexbytes(args, "nonce", _NONCE, _NONCE)
    mac = hexbytes(args, "mac", 32, 32)
    if (
        current is None
        or time.ticks_diff(time.ticks_ms(), dev._nonce_at) > dev.nonce_ms
        or nonce != current
    ):
        raise Refused("auth_failed", "nonce is not current")
    if not dev._store.admin_mac_ok(prefix + nonce + value, mac):
        raise Refused("auth_failed", "mac does not match")


def profile_write(dev, args):
    only(args, ("slot", "secret", "algorithm", "digits", "period", "label", "issuer"))
    slot = dev._slot(args)
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
    store = dev._store
    if store.locked and store.status(slot) is not None:
        raise Refused("slot_occupied", "slot %d is occupied and the token is locked" % slot)
    dev._needs_pin()
    store.write(slot, key, algorithm, digits, period, label, issuer)
    dev.changed = True
    return {"profile": store.describe(slot)}


def profile_erase(dev, args):
    only(args, ("slot",))
    slot = dev._slot(args)
    if dev._store.locked:
        raise Refused("locked", "token is locked")
    if dev._store.status(slot) is None:
        raise Refused("empty_slot", "slot %d is empty" % slot)
    dev._store.erase(slot)
    dev.changed = True
    return {"slot": slot}


def lock(dev, args):
    only(args, ("admin_key",))
    key = hexbytes(args, "admin_key", _ADMIN_KEY, _ADMIN_KEY)
    if dev._store.locked:
        raise Refused("locked", "token is locked")
    dev._store.set_lock(key)
    dev.changed = True
    dev.flash = "locked"
    return {"state": "locked"}


def wipe(dev, args):
    only(args, ("timeout_s",))
    timeout_s = integer(args, "timeout_s", 1, _MAX_TIMEOUT_S, _TIMEOUT_S)
    return Confirm(dev, "wipe", timeout_s, _apply_wipe, None)


def _apply_wipe(dev, _value, _waited_ms):
    dev._store.wipe()
    return dev.wiped()


def pin_set(dev, args):
    import pin

    result = pin.set_pin(dev._store, dev._hw.unique_id(), args)
    dev.opened(result["hold_s"])
    return result


def sleep_set(dev, args):
    """sleep.set: the display's idle time in seconds (0: never off); null: the board's own."""
    only(args, ("sleep_s",))
    sleep_s = args.get("sleep_s")
    if sleep_s is not None:
        sleep_s = integer(args, "sleep_s", 0, _MAX_SLEEP_S)
        if 0 < sleep_s < _MIN_SLEEP_S:
            raise Refused("bad_args", "sleep_s must be 0 or an integer 5..3600, or null")
    dev._store.set_sleep(sleep_s)
    dev.changed = True
    return {"sleep_s": dev.sleep_s()}


def _round(x):
    """Nearest integer, halves away from zero (the same on every port)."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)
