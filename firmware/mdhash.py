# Buffering and padding shared by the pure-Python SHA fallbacks (sha1.py, sha2.py).
#
# SHA-1, SHA-256 and SHA-512 all cut the message into blocks, pad it with 0x80, zeros and the
# big-endian bit length, and output their state words big-endian; only the block size, the
# length field and the compression function differ. The fallbacks are used only where the
# port's hashlib lacks an algorithm (field-notes.md: the unix port has no SHA-512, some rp2
# builds no SHA-1), so they favour small code over speed.


def word(data, i, size):
    """The big-endian word of `size` (4 or 8) bytes at data[i]."""
    if size == 4:
        return data[i] << 24 | data[i + 1] << 16 | data[i + 2] << 8 | data[i + 3]
    return (
        data[i] << 56
        | data[i + 1] << 48
        | data[i + 2] << 40
        | data[i + 3] << 32
        | data[i + 4] << 24
        | data[i + 5] << 16
        | data[i + 6] << 8
        | data[i + 7]
    )


class MDHash:
    """hashlib-like object: update(data), digest(); subclasses give the block and compress.

    Subclasses set _IV (initial state words), _WORD (bytes per word), _LEN (bytes of the
    length field), _OUT (state words in the digest) and define _compress(block).
    digest() finishes the hash, as MicroPython's hashlib does; later calls return the same.
    """

    _IV = ()
    _WORD = 4
    _LEN = 8
    _OUT = 0

    def __init__(self, data=None):
        self._h = list(self._IV)
        self._buf = bytearray(self._WORD * 16)
        self._fill = 0
        self._count = 0
        self._digest = None
        if data:
            self.update(data)

    def update(self, data):
        if self._digest is not None:
            raise ValueError("hash already finished")
        buf = self._buf
        size = len(buf)
        fill = self._fill
        for byte in data:
            buf[fill] = byte
            fill += 1
            if fill == size:
                self._compress(buf)
                fill = 0
        self._fill = fill
        self._count += len(data)

    def digest(self):
        if self._digest is None:
            self._finish()
        return self._digest

    def _finish(self):
        buf = self._buf
        size = len(buf)
        bits = self._count * 8
        fill = self._fill
        buf[fill] = 0x80
        fill += 1
        if fill > size - self._LEN:
            for i in range(fill, size):
                buf[i] = 0
            self._compress(buf)
            fill = 0
        for i in range(fill, size):
            buf[i] = 0
        i = size - 1
        while bits:
            buf[i] = bits & 0xFF
            bits >>= 8
            i -= 1
        self._compress(buf)
        word = self._WORD
        out = bytearray(self._OUT * word)
        for n in range(self._OUT):
            value = self._h[n]
            for i in range(n * word + word - 1, n * word - 1, -1):
                out[i] = value & 0xFF
                value >>= 8
        self._digest = bytes(out)
