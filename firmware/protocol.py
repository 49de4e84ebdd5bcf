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


class Refused(Exception):
    """An error answer: a code from docs/protocol.md and a short message with no secret in it."""

    def __init__(self, code, message, rid=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.rid = rid


def parse(line):
    """Return (id, op, args) from one protocol line (bytes after the '@', no newline)."""
    try:
        text = str(line, "utf-8")
    except UnicodeError:
        raise Refused("bad_utf8", "line is not valid UTF-8")
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
