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

# Each algorithm is taken from the port's hashlib when it has it, else from the pure-Python
# fallback, loaded at each use (sha512.py and mdhash.py cost about 4 KB of RAM, and most
# profiles never use SHA-512).
_ALGORITHMS = const(("sha1", "sha256", "sha512"))

_pad = bytearray(128)  # HMAC key pad (its first 64 bytes for SHA-1, SHA-256), reused and wiped
_FORMATS = const(("%06d", "%07d", "%08d"))  # zero-padded on the left (RFC 4226 section 5.3)
_MODULI = const((10**6, 10**7, 10**8))
_SPACE = const(32)  # base32 bytes: separators, padding, letters (c | 32 is lower case), digits
_HYPHEN = const(45)
_PAD = const(61)
_CASE_BIT = const(32)
_LOWER_A = const(97)
_LOWER_Z = const(122)
_DIGIT_2 = const(50)
_DIGIT_7 = const(55)

# Seconds from 1970-01-01 to this port's epoch: esp32 counts from 2000, rp2 and unix from 1970.
if time.gmtime(0)[0] == 1970:
    EPOCH_OFFSET_S = 0
elif time.gmtime(0)[0] == 2000:
    EPOCH_OFFSET_S = _DAYS_1970_TO_2000 * 86400
else:
    raise ImportError("unsupported epoch year %d" % time.gmtime(0)[0])


class OTPError(ValueError):
    """Bad input to the OTP core; the message says what is wrong and never shows a secret."""


def b32decode(text):
    """Decode an RFC 4648 base32 secret: any case, spaces and hyphens ignored, '=' padding
    optional and only at the end; the rules and messages of the host's core/base32.py.
    It reads the text's bytes, never its characters: MicroPython interns every character taken
    out of a str as a qstr, which stays in RAM for good (docs/firmware-memory.md)."""
    if not isinstance(text, str):
        raise OTPError("secret must be base32 text")
    raw = text.encode()
    out = bytearray(len(raw) * 5 // 8)
    padded = False
    count = bits = nbits = n = 0
    for position, c in enumerate(raw):
        if c == _SPACE or c == _HYPHEN:
            continue
        if c == _PAD:
            padded = True
            continue
        if padded:
            raise OTPError("secret is not base32: '=' padding is only allowed at the end")
        if _LOWER_A <= c | _CASE_BIT <= _LOWER_Z:  # a letter in either case
            value = (c | _CASE_BIT) - _LOWER_A
        elif _DIGIT_2 <= c <= _DIGIT_7:  # a non-ASCII character's first byte fails both
            value = c - _DIGIT_2 + 26
        else:  # every byte before it was ASCII, so its position is the character's
            raise OTPError("secret is not base32: character %d is not A-Z or 2-7" % (position + 1))
        bits = (bits << 5) | value
        nbits += 5
        if nbits >= 8:
            nbits -= 8
            out[n] = bits >> nbits
            bits &= (1 << nbits) - 1
            n += 1
        count += 1
    if count == 0:
        raise OTPError("secret is empty")
    if count % 8 in (1, 3, 6):
        raise OTPError("secret is not base32: %d characters cannot be whole bytes" % count)
    return bytes(out[:n])


def hmac_digest(algorithm, key, data):
    """HMAC (RFC 2104) of data under key with "sha1", "sha256" or "sha512"."""
    if algorithm not in _ALGORITHMS:
        raise OTPError("algorithm must be sha1, sha256 or sha512")
    new = getattr(hashlib, algorithm, None) or _load_fallback(algorithm)
    block = 128 if algorithm == "sha512" else 64  # bytes
    if len(key) > block:
        key = new(key).digest()
    pad = memoryview(_pad)[:block]
    klen = len(key)
    for i in range(block):
        pad[i] = (key[i] if i < klen else 0) ^ _IPAD
    h = new(pad)
    h.update(data)
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
    mac = hmac_digest(algorithm, key, counter.to_bytes(8, "big"))  # the moving factor
    o = mac[-1] & 0x0F
    binary = (mac[o] & 0x7F) << 24 | mac[o + 1] << 16 | mac[o + 2] << 8 | mac[o + 3]
    return _FORMATS[digits - _MIN_DIGITS] % (binary % _MODULI[digits - _MIN_DIGITS])


def totp(key, unix_s, period=30, digits=6, algorithm="sha1"):
    """TOTP value (RFC 6238) at unix_s (seconds since 1970, UTC) for a period in seconds."""
    if not isinstance(period, int) or not _MIN_PERIOD_S <= period <= _MAX_PERIOD_S:
        raise OTPError("period must be 10 to 300 seconds")
    if unix_s < 0:
        raise OTPError("time must not be before 1970")
    return hotp(key, int(unix_s) // period, digits, algorithm)
