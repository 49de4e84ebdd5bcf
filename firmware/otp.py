# HOTP (RFC 4226) and TOTP (RFC 6238) for the token, with HMAC (RFC 2104) written over hashlib.
#
# MicroPython has no hmac module (micropython-lib's defaults to MD5), and ports differ in which
# hashes their hashlib has (the unix port lacks SHA-512), so each algorithm is taken from
# hashlib when it is there and from the pure-Python fallbacks (sha1.py, sha256.py, sha512.py)
# when not.
# Pure logic: no clock, no hardware; the caller passes the time.
import gc
import hashlib
import time

from micropython import const

_IPAD = const(0x36)  # RFC 2104 inner pad byte
_OPAD = const(0x5C)  # RFC 2104 outer pad byte
_MIN_DIGITS = const(6)
_MAX_DIGITS = const(8)
_MIN_PERIOD_S = const(10)
_MAX_PERIOD_S = const(300)
_DAYS_1970_TO_2000 = const(10957)

# algorithm name -> [hash constructor, block size in bytes]. Whether the port's hashlib has the
# algorithm is decided here, at import; a missing one is None until first used, and then the
# pure-Python fallback is loaded (sha512.py and mdhash.py cost about 4 KB of RAM, and most
# profiles never use SHA-512).
_HASHES = {
    "sha1": [getattr(hashlib, "sha1", None), 64],
    "sha256": [getattr(hashlib, "sha256", None), 64],
    "sha512": [getattr(hashlib, "sha512", None), 128],
}

_pad64 = bytearray(64)  # HMAC key pad for 64-byte-block hashes, reused and wiped after use
_pad128 = bytearray(128)  # the same for SHA-512
_counter = bytearray(8)  # HOTP moving factor, big-endian
_FORMATS = const(("%06d", "%07d", "%08d"))  # zero-padded on the left (RFC 4226 section 5.3)
_MODULI = const((10**6, 10**7, 10**8))
_B32 = const("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz")  # index & 31 = value

# Seconds from 1970-01-01 to this port's epoch: esp32 counts from 2000, rp2 and unix from 1970.
_epoch_year = time.gmtime(0)[0]
if _epoch_year == 1970:
    EPOCH_OFFSET_S = 0
elif _epoch_year == 2000:
    EPOCH_OFFSET_S = _DAYS_1970_TO_2000 * 86400
else:
    raise ImportError("unsupported epoch year %d" % _epoch_year)


class OTPError(ValueError):
    """Bad input to the OTP core; the message says what is wrong and never shows a secret."""


def unix_time(port_seconds):
    """Seconds since 1970 from seconds since this port's epoch (time.time())."""
    return port_seconds + EPOCH_OFFSET_S


def b32decode(text):
    """Decode an RFC 4648 base32 secret: any case, spaces and hyphens ignored, '=' padding
    optional and only at the end; the rules and messages of the host's core/base32.py."""
    if not isinstance(text, str):
        raise OTPError("secret must be base32 text")
    count = 0
    padded = False
    for position, ch in enumerate(text):
        if ch == " " or ch == "-":
            continue
        if ch == "=":
            padded = True
        elif padded:
            raise OTPError("secret is not base32: '=' padding is only allowed at the end")
        elif _B32.find(ch) < 0:
            raise OTPError("secret is not base32: character %d is not A-Z or 2-7" % (position + 1))
        else:
            count += 1
    if count == 0:
        raise OTPError("secret is empty")
    if count % 8 in (1, 3, 6):
        raise OTPError("secret is not base32: %d characters cannot be whole bytes" % count)
    out = bytearray(count * 5 // 8)
    bits = 0
    nbits = 0
    n = 0
    for ch in text:
        value = _B32.find(ch)
        if value < 0:
            continue
        bits = (bits << 5) | (value & 31)
        nbits += 5
        if nbits >= 8:
            nbits -= 8
            out[n] = bits >> nbits
            bits &= (1 << nbits) - 1
            n += 1
    return bytes(out)


def hmac_digest(algorithm, key, msg):
    """HMAC (RFC 2104) of msg under key with "sha1", "sha256" or "sha512"."""
    entry = _HASHES.get(algorithm)
    if entry is None:
        raise OTPError("algorithm must be sha1, sha256 or sha512")
    new, block = entry
    if new is None:
        new = _load_fallback(algorithm)
    if len(key) > block:
        key = new(key).digest()
    pad = _pad64 if block == 64 else _pad128
    klen = len(key)
    for i in range(block):
        pad[i] = (key[i] if i < klen else 0) ^ _IPAD
    h = new(pad)
    h.update(msg)
    inner = h.digest()
    for i in range(block):
        pad[i] ^= _IPAD ^ _OPAD
    h = new(pad)
    h.update(inner)
    for i in range(block):
        pad[i] = 0
    return h.digest()


def _load_fallback(algorithm):
    """The pure-Python hash for an algorithm the port's hashlib lacks: module sha1, sha256 or
    sha512, whose class has the algorithm's name. Not kept here: app.py drops the module after
    each request and each code, so its RAM is free between uses (docs/firmware-memory.md).
    A collection first, so the module's code lands in runs freed since the last one."""
    gc.collect()
    return getattr(__import__(algorithm), algorithm)


def hotp(key, counter, digits=6, algorithm="sha1"):
    """HOTP value (RFC 4226) of counter, as a zero-padded string of digits."""
    if not key:
        raise OTPError("secret is empty")
    if not isinstance(digits, int) or not _MIN_DIGITS <= digits <= _MAX_DIGITS:
        raise OTPError("digits must be 6, 7 or 8")
    if not 0 <= counter < 1 << 64:
        raise OTPError("counter must be 0 to 2**64-1")
    c = counter
    for i in range(7, -1, -1):
        _counter[i] = c & 0xFF
        c >>= 8
    mac = hmac_digest(algorithm, key, _counter)
    o = mac[-1] & 0x0F
    binary = (mac[o] & 0x7F) << 24 | mac[o + 1] << 16 | mac[o + 2] << 8 | mac[o + 3]
    return _FORMATS[digits - _MIN_DIGITS] % (binary % _MODULI[digits - _MIN_DIGITS])


def totp(key, unix_time, period=30, digits=6, algorithm="sha1"):
    """TOTP value (RFC 6238) at unix_time (seconds since 1970, UTC) for a period in seconds."""
    if not isinstance(period, int) or not _MIN_PERIOD_S <= period <= _MAX_PERIOD_S:
        raise OTPError("period must be 10 to 300 seconds")
    if unix_time < 0:
        raise OTPError("time must not be before 1970")
    return hotp(key, int(unix_time) // period, digits, algorithm)
