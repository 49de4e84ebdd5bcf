# Label bitmaps: a label line the 8x8 font cannot draw (any script but printable ASCII) comes
# from the host as a 1-bit bitmap (profile.label in docs/protocol.md) and is shown instead of
# the text. Here: the op's checks, the bitmap's file and drawing it. Imported only when a slot's
# line is not ASCII, so a token with ASCII labels never loads it (its heap budget is tight).
# The file, beside the slot's profile file: magic, slot byte, width, height, MONO_HLSB rows,
# then the store's HMAC-SHA256 tag. The pixels are public, so they are not encrypted; the tag
# finds a damaged or edited file, which leaves the line blank. This module is a part of store.py
# split off for RAM: it uses the store's file helpers (_path, _save: the atomic write) directly.
from micropython import const

import otp
from protocol import Refused, hexbytes, integer, only, usable
from store import LABEL, needs_label, same

LABEL_W = const(128)  # widest bitmap: the whole top line of display.py's code screen
LABEL_H = const(12)  # tallest bitmap: the rows above the code's digits, less a 2-row gap
_MAGIC = const(b"BLL1")
_HEAD = const(7)  # magic, slot byte, width, height
_TAG = const(32)
_FILE = const(231)  # _HEAD + a LABEL_W x LABEL_H bitmap (192 bytes) + _TAG

_buf = None  # the file of the bitmap on screen, read into one buffer made at first use


def write(store, slot, args):
    """profile.label: once after each profile.write whose label or issuer the font cannot
    draw (also after lock: it completes that write)."""
    only(args, ("slot", "width", "height", "bitmap"))
    width = integer(args, "width", 1, LABEL_W)
    height = integer(args, "height", 1, LABEL_H)
    size = (width + 7) // 8 * height
    bitmap = hexbytes(args, "bitmap", size, size)
    usable(store.status(slot), slot)
    if not needs_label(store.record(slot)):
        raise Refused("label_refused", "slot %d has an ASCII label" % slot)
    if read(store, slot) is not None:  # a damaged one may be written again
        raise Refused("label_refused", "slot %d already has its label bitmap" % slot)
    store._save(store._path(slot, LABEL), _MAGIC + bytes((slot, width, height)) + bitmap)
    return {"slot": slot, "width": width, "height": height}


def read(store, slot):
    """(rows, width, height) of the slot's bitmap, rows a view into the shared buffer (valid
    until the next read), or None when the file is missing or fails a check."""
    global _buf
    if _buf is None:
        _buf = bytearray(_FILE + 1)  # one byte more: a longer file shows as too long
    try:
        with open(store._path(slot, LABEL), "rb") as f:
            n = f.readinto(_buf)
    except OSError:
        return None
    data = memoryview(_buf)[:n]
    if n < _HEAD + _TAG or data[:4] != _MAGIC or data[4] != slot:
        return None
    width, height = data[5], data[6]
    if n != _HEAD + (width + 7) // 8 * height + _TAG:
        return None
    if not same(otp.hmac_digest("sha256", store._mac_key, data[:-_TAG]), data[-_TAG:]):
        return None
    return data[_HEAD:-_TAG], width, height


def draw(fb, bitmap, x, y, right):
    """Blit bitmap (rows, width, height) at x, y of fb, cut at column right as text is cut
    before the slot indicator."""
    import framebuf

    rows, width, height = bitmap
    fb.blit(framebuf.FrameBuffer(rows, width, height, framebuf.MONO_HLSB), x, y)
    if right < x + width:
        fb.fill_rect(right, y, x + width - right, height, 0)
