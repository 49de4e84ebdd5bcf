# The device PIN (docs/protocol.md, pin.set; docs/threat-model.md): set once from the host,
# entered with the button, never stored. Imported only by a token that has a PIN or is given
# one, so a token without stays within its heap budget.
#
# Keys: a random 32-byte data key seals every secret (store.py, AES-256-CBC). The data key is
# kept in the settings file wrapped (sealed) under the PIN key, and the PIN key is derived from
# the PIN, a random salt and the device key (the board's unique id) with PBKDF2-HMAC-SHA256 at
# _ROUNDS iterations. So the flash and the device id without the PIN open nothing, changing
# the PIN rewrites one file, and a check value tells a wrong PIN from a right one.
#
# Wrong PINs: the count is saved before a PIN is checked, so cutting the power during a check
# cannot spare a try; at store.PIN_TRIES the token wipes itself (store.load finishes a wipe a
# power cut stopped).
from micropython import const

from protocol import Refused, integer, only
from store import PIN_TRIES, same, unseal

_ROUNDS = const(2000)  # PBKDF2 iterations: about 1.5 s on a Pico (docs/threat-model.md)
_SALT = const(16)
_KEY = const(32)
_HOLD_S = const(60)  # default: how long codes stay shown after a right PIN
_MAX_HOLD_S = const(3600)


def _derive(digits, salt, device_key):
    """PBKDF2-HMAC-SHA256 (RFC 8018), one 32-byte block, of the PIN under salt + device key."""
    import hashlib

    block = 64
    key = digits.encode()
    inner = bytes(b ^ 0x36 for b in key + bytes(block - len(key)))
    outer = bytes(b ^ 0x5C for b in key + bytes(block - len(key)))
    u = salt + bytes(device_key) + b"\x00\x00\x00\x01"
    acc = 0
    for _ in range(_ROUNDS):
        h = hashlib.sha256(inner)
        h.update(u)
        h2 = hashlib.sha256(outer)
        h2.update(h.digest())
        u = h2.digest()
        acc ^= int.from_bytes(u, "big")
    return acc.to_bytes(_KEY, "big")


def _check_value(pin_key):
    import hashlib

    return hashlib.sha256(b"baoling-pin-check-v1" + pin_key).digest()[:16]


def _record(digits, data_key, device_key, hold_s):
    """The settings' PIN record for digits guarding data_key, no wrong tries yet."""
    import os
    from binascii import hexlify

    from store import _seal

    salt = os.urandom(_SALT)
    pin_key = _derive(digits, salt, device_key)
    return {
        "s": hexlify(salt).decode(),
        "w": hexlify(_seal(pin_key, data_key)).decode(),
        "v": hexlify(_check_value(pin_key)).decode(),
        "n": len(digits),
        "f": 0,
        "h": hold_s,
    }


def _digits(args, name):
    value = args.get(name)
    if type(value) is not str or not 4 <= len(value) <= 8 or not value.isdigit():
        raise Refused("bad_args", name + " must be 4..8 digits")
    return value


def set_pin(store, device_key, args):
    """pin.set: give the token a PIN, or change it with the old one. The first PIN only on a
    token without profiles (their secrets would have to be sealed one file at a time, and a
    power cut in between would leave some unsealed)."""
    only(args, ("pin", "old_pin", "hold_s"))
    digits = _digits(args, "pin")
    hold_s = integer(args, "hold_s", 10, _MAX_HOLD_S, _HOLD_S)
    if not store.encrypted:
        raise Refused("pin_refused", "this port has no AES: no PIN")
    if store.pin is None:
        if "old_pin" in args:
            raise Refused("bad_args", "old_pin given but the token has no PIN")
        if any(store._state):
            raise Refused("pin_refused", "a first PIN needs a token without profiles")
        import os

        data_key = os.urandom(_KEY)
    else:
        if "old_pin" not in args:
            raise Refused("pin_required", "old_pin required to change the PIN")
        data_key = check(store, _digits(args, "old_pin"), device_key)
        if data_key is None:
            raise Refused("wrong_pin", "old_pin is wrong")
    store.set_pin(_record(digits, data_key, device_key, hold_s))
    store.unlock(data_key)
    return {"pin": True, "hold_s": hold_s}


def check(store, digits, device_key):
    """The data key when digits is the PIN (and the token unlocked with it), else None; a
    wrong PIN counts, and the PIN_TRIES-th wipes the token."""
    from binascii import unhexlify

    pin = store.pin
    tries = dict(pin)
    tries["f"] = pin["f"] + 1
    store.set_pin(tries)  # counted before checking: a power cut cannot spare the try
    pin_key = _derive(digits, unhexlify(pin["s"]), device_key)
    if not same(_check_value(pin_key), unhexlify(pin["v"])):
        if tries["f"] >= PIN_TRIES:
            store.wipe()
        return None
    tries["f"] = 0
    store.set_pin(tries)
    data_key = unseal(pin_key, unhexlify(pin["w"]))
    store.unlock(data_key)
    return data_key
