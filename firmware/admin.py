# The operations a host uses to provision a token (docs/protocol.md) besides the clock's
# (clockset.py): writing and erasing profiles, lock, wipe, the device PIN, the sleep time.
# Apart from device.py because a token in use never needs them: device.py imports this module
# for one request and app.py drops it afterwards, so showing codes and proving never hold its
# code in the heap (docs/firmware-memory.md). Each function takes the Device and the args.
from micropython import const

import otp
from device import Confirm
from protocol import Refused, choice, hexbytes, integer, only, text

_TIMEOUT_S = const(30)  # default button wait
_MAX_TIMEOUT_S = const(120)
_KEY_MIN = const(10)  # secret bytes
_KEY_MAX = const(64)
_ADMIN_KEY = const(32)
_TEXT = const(32)  # label, issuer
_MIN_SLEEP_S = const(5)
_MAX_SLEEP_S = const(3600)


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
    store = dev.store
    if store.locked and store.status(slot) is not None:
        raise Refused("slot_occupied", "slot %d is occupied and the token is locked" % slot)
    dev._needs_pin()
    store.write(slot, key, algorithm, digits, period, label, issuer)
    dev.changed = True
    return {"profile": store.describe(slot)}


def profile_erase(dev, args):
    only(args, ("slot",))
    slot = dev._slot(args)
    if dev.store.locked:
        raise Refused("locked", "token is locked")
    if dev.store.status(slot) is None:
        raise Refused("empty_slot", "slot %d is empty" % slot)
    dev.store.erase(slot)
    dev.changed = True
    return {"slot": slot}


def lock(dev, args):
    only(args, ("admin_key",))
    key = hexbytes(args, "admin_key", _ADMIN_KEY, _ADMIN_KEY)
    if dev.store.locked:
        raise Refused("locked", "token is locked")
    dev.store.set_lock(key)
    dev.changed = True
    dev.flash = "locked"
    return {"state": "locked"}


def wipe(dev, args):
    only(args, ("timeout_s",))
    timeout_s = integer(args, "timeout_s", 1, _MAX_TIMEOUT_S, _TIMEOUT_S)
    return Confirm(dev, "wipe", timeout_s, _apply_wipe, None)


def _apply_wipe(dev, value, waited_ms):
    dev.store.wipe()
    return dev.wiped()


def pin_set(dev, args):
    import pin

    result = pin.set_pin(dev.store, dev.hw.unique_id(), args)
    dev.opened(result["hold_s"])
    return result


def sleep_set(dev, args):
    """sleep.set: the display's idle time in seconds (0: never off); null: the board's own."""
    only(args, ("sleep_s",))
    if "sleep_s" not in args:  # null is the board's own; nothing at all is a mistake
        raise Refused("bad_args", "sleep_s must be 0 or an integer 5..3600, or null")
    sleep_s = args["sleep_s"]
    if sleep_s is not None:
        sleep_s = integer(args, "sleep_s", 0, _MAX_SLEEP_S)
        if 0 < sleep_s < _MIN_SLEEP_S:
            raise Refused("bad_args", "sleep_s must be 0 or an integer 5..3600, or null")
    dev.store.set_sleep(sleep_s)
    dev.changed = True
    return {"sleep_s": dev.sleep_s()}
