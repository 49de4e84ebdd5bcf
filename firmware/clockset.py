# The clock operations a host uses to provision a token (docs/protocol.md): time.set and
# drift.set, under the admin key after lock. Apart from admin.py so that a request loads only
# its own half: device.py imports this module for one request and app.py drops it afterwards
# (docs/firmware-memory.md). Each function takes the Device and the args.
import time

from micropython import const

from clock import BUILD_MS, END_MS
from device import Confirm
from protocol import Refused, hexbytes, integer, number, only

_NONCE = const(16)  # nonce bytes
_JUMP_MS = const(300000)  # a clock change after lock larger than this needs the button
_TIMEOUT_S = const(30)  # default button wait
_MAX_TIMEOUT_S = const(120)
_MAX_DRIFT_PPM = const(1000)
_TIME_PREFIX = const(b"baoling-time-v1\x00")
_DRIFT_PREFIX = const(b"baoling-drift-v1\x00")


def time_set(dev, args):
    only(args, ("time_ms", "nonce", "mac", "timeout_s"))
    new = integer(args, "time_ms", BUILD_MS, END_MS - 1)
    return _guarded(dev, args, _TIME_PREFIX, new.to_bytes(8, "big"), new, _apply_time, new)


def drift_set(dev, args):
    only(args, ("drift_ppm", "nonce", "mac", "timeout_s"))
    ppm = number(args, "drift_ppm", -_MAX_DRIFT_PPM, _MAX_DRIFT_PPM)
    ppb = ppm * 1000  # to the nearest integer, halves away from zero (the same on every port)
    ppb = int(ppb + 0.5) if ppb >= 0 else -int(-ppb + 0.5)
    value = (ppb & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")  # two's complement
    moved = dev.clock.now_with(ppb)
    return _guarded(dev, args, _DRIFT_PREFIX, value, moved, _apply_drift, ppb)


def _guarded(dev, args, prefix, data, moved_to, action, value):
    """A clock change, action(dev, value, waited_ms): free before lock; after lock the admin
    MAC over prefix, nonce and data, and the button for a change of more than _JUMP_MS or on
    an untrusted clock."""
    timeout_s = integer(args, "timeout_s", 1, _MAX_TIMEOUT_S, _TIMEOUT_S)
    if dev.store.locked:  # the admin-key MAC over the current nonce and the new value
        if "nonce" not in args or "mac" not in args:
            raise Refused("auth_failed", "nonce and mac required after lock")
        current = dev.nonce
        dev.nonce = None  # single use: any attempt ends the current nonce
        nonce = hexbytes(args, "nonce", _NONCE, _NONCE)
        mac = hexbytes(args, "mac", 32, 32)
        if (
            current is None
            or time.ticks_diff(time.ticks_ms(), current[1]) > dev.nonce_ms
            or nonce != current[0]
        ):
            raise Refused("auth_failed", "nonce is not current")
        if not dev.store.admin_mac_ok(prefix + nonce + data, mac):
            raise Refused("auth_failed", "mac does not match")
        clock = dev.clock
        if not clock.trusted() or abs(moved_to - clock.now_ms()) > _JUMP_MS:
            return Confirm(dev, "time", timeout_s, action, value)
    return action(dev, value, 0)


def _apply_time(dev, value, waited_ms):
    clock = dev.clock
    value += waited_ms  # the time the host sent, moved on by the wait for the press
    dev.store.set_clock(clock.drift_ppb, value)
    clock.set(value)
    dev.changed = True
    return clock.describe()


def _apply_drift(dev, ppb, waited_ms):
    clock = dev.clock
    dev.store.set_clock(ppb, clock.synced_ms)
    clock.drift_ppb = ppb
    dev.changed = True
    return clock.describe()

