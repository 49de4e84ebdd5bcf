# Serial protocol version 3 (docs/protocol.md): a received line becomes a request, a result or
# a refusal becomes an answer message. Pure: no I/O here; link.py moves the bytes and device.py
# carries out the operations. Nothing in an answer may come from a stored secret.
import json

from micropython import const

VERSION = const(3)  # protocol version; info reports it
_OLDEST = const(1)  # requests of versions _OLDEST..VERSION are answered (each a subset of the next)
MAX_LINE = const(512)  # longest request line in bytes, marker included
_MAX_ID = const(2147483647)
_ECHO = const(32)  # longest piece of host input echoed in a message

_TOP_KEYS = const(("v", "id", "op", "args"))
_SPACE = const(0x20)  # below it: C0 controls
_DEL = const(0x7F)
_C1_LEAD = const(0xC2)  # C1 controls U+0080..U+009F are 0xC2 0x80..0xC2 0x9F in UTF-8
_C1_END = const(0xA0)
_BACKSLASH = const(0x5C)
_LETTER_U = const(0x75)  # of a JSON escape \\uXXXX
_CONT_LOW = const(0x80)  # a UTF-8 continuation byte is 0x80..0xBF
_CONT_HIGH = const(0xBF)


class Refused(Exception):
    """An error answer: a code from docs/protocol.md and a short message with no secret in it."""

    def __init__(self, code, message, rid=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.rid = rid


def parse(line):
    """Return (id, op, args) from one protocol line (bytes after the '@', no newline)."""
    if not well_formed(line):
        raise Refused("bad_utf8", "line is not valid UTF-8")
    text = str(line, "utf-8")
    try:
        msg = json.loads(text)
    except ValueError:
        raise Refused("bad_json", "line is not a JSON object")
    if type(msg) is not dict:
        raise Refused("bad_json", "line is not a JSON object")
    rid = msg.get("id")
    if type(rid) is not int or not 0 <= rid <= _MAX_ID:
        rid = None
    for key in msg:
        if key not in _TOP_KEYS:
            raise Refused("bad_request", "unknown key: " + key[:_ECHO], rid)
    version = msg.get("v")
    op = msg.get("op")
    args = msg.get("args", {})
    if rid is None or type(version) is not int or type(op) is not str or type(args) is not dict:
        raise Refused("bad_request", "request needs v, id, op and optional args", rid)
    if not _OLDEST <= version <= VERSION:
        raise Refused(
            "bad_version", "protocol version %d not supported (device speaks 1..3)" % version, rid
        )
    return rid, op, args


def well_formed(line):
    """Whether `line` is UTF-8 as RFC 3629 defines it, without a JSON escape of a surrogate.

    MicroPython's decoder lets overlong forms, surrogates and code points past U+10FFFF
    through, and json.loads turns a "\\ud800" escape into a surrogate's bytes: a label made of
    either would be stored, and every later answer would be a line no host can decode.
    Characters past U+FFFF come as their own four bytes (the host sends UTF-8), not as a
    surrogate pair. One pass over the bytes, allocating nothing.
    """
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c < _CONT_LOW:
            if c == _BACKSLASH and i + 1 < n:
                # An escape: "\\uD8".."\\uDF" is a surrogate; any other takes its next byte.
                if (
                    line[i + 1] == _LETTER_U
                    and i + 3 < n
                    and line[i + 2] in b"dD"
                    and line[i + 3] in b"89abcdefABCDEF"
                ):
                    return False
                i += 1
            i += 1
            continue
        # The lead byte says how many continuation bytes follow and the second byte's range
        # (RFC 3629 section 4): that range is what rules out overlong forms, surrogates and
        # code points past U+10FFFF.
        low = _CONT_LOW
        high = _CONT_HIGH
        if 0xC2 <= c <= 0xDF:
            need = 1
        elif 0xE0 <= c <= 0xEF:
            need = 2
            if c == 0xE0:
                low = 0xA0
            elif c == 0xED:
                high = 0x9F
        elif 0xF0 <= c <= 0xF4:
            need = 3
            if c == 0xF0:
                low = 0x90
            elif c == 0xF4:
                high = 0x8F
        else:
            return False
        if i + need >= n or not low <= line[i + 1] <= high:
            return False
        k = i + 2
        i += need + 1
        while k < i:
            if not _CONT_LOW <= line[k] <= _CONT_HIGH:
                return False
            k += 1
    return True


def answer(rid, result):
    """The message for a successful request (link.Port.send writes it as a line)."""
    return {"id": rid, "ok": True, "result": result}


def refusal(rid, code, message):
    """The message for a refused request."""
    return {"id": rid, "ok": False, "error": code, "message": message}


def only(args, names):
    """Refuse any argument not in names: the device fails closed on what it does not know."""
    for key in args:
        if key not in names:
            raise Refused("bad_args", "unknown arg: " + key[:_ECHO])


def integer(args, name, low, high, default=None):
    """An integer argument in low..high (booleans are not integers here)."""
    value = args.get(name, default)
    if type(value) is not int or not low <= value <= high:
        raise Refused("bad_args", "%s must be an integer %d..%d" % (name, low, high))
    return value


def number(args, name, low, high):
    """An integer or float argument in low..high."""
    value = args.get(name)
    if type(value) not in (int, float) or not low <= value <= high:
        raise Refused("bad_args", "%s must be a number %d..%d" % (name, low, high))
    return value


def choice(args, name, values, default):
    """One of a few allowed values."""
    value = args.get(name, default)
    if value not in values or type(value) is not type(default):
        allowed = ", ".join(str(c) for c in values)
        raise Refused("bad_args", "%s must be one of %s" % (name, allowed))
    return value


def text(args, name, length):
    """A short string in any script, without control characters. Only printable ASCII is
    drawn in the display's font; other text is shown as the host's bitmap (profile.label)."""
    value = args.get(name, "")
    if type(value) is not str or len(value) > length or not _no_controls(value):
        raise Refused(
            "bad_args",
            "%s must be at most %d characters, none a control character" % (name, length),
        )
    return value


def usable(status, slot):
    """Refuse a slot whose store.status is not "ok": free (None) or corrupt."""
    if status is None:
        raise Refused("empty_slot", "slot %d is empty" % slot)
    if status != "ok":
        raise Refused("corrupt_slot", "slot %d is corrupt; write or erase it" % slot)


def hexbytes(args, name, low, high):
    """A hex argument decoding to low..high bytes."""
    from binascii import unhexlify

    value = args.get(name)
    if type(value) is str and low * 2 <= len(value) <= high * 2:
        try:
            return unhexlify(value)
        except ValueError:
            pass
    if low == high:
        raise Refused("bad_args", "%s must be %d bytes in hex" % (name, low))
    raise Refused("bad_args", "%s must be %d..%d bytes in hex" % (name, low, high))


def _no_controls(value):
    """No C0, DEL or C1 control character, checked on the UTF-8 bytes: a character taken out
    of a str is interned as a qstr for good (docs/firmware-memory.md)."""
    raw = value.encode()
    for i in range(len(raw)):
        c = raw[i]
        if c < _SPACE or c == _DEL or c == _C1_LEAD and raw[i + 1] < _C1_END:
            return False
    return True
