# Buffering and padding shared by the pure-Python SHA fallbacks (sha1.py, sha256.py,
# sha512.py).
#
# SHA-1, SHA-256 and SHA-512 all cut the message into blocks, pad it with 0x80, zeros and the
# big-endian bit length, and output their state words big-endian; only the block size, the
# length field and the compression function differ. The fallbacks are used only where the
# port's hashlib lacks an algorithm (the unix port has no SHA-512, some rp2
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
    """hashlib-like object: update(data), digest(); subclasses give the state and compress.

    Subclasses set _IV (initial state words), _WORD (bytes per word) and _OUT (state words in
    the digest) and define _compress(h, data, offset), which mixes the block at data[offset]
    into the state list h. The message is kept until digest(): HMAC hashes a block and a few
    bytes, so holding them costs less RAM than the code a streaming buffer would need.
    """

    _IV = ()
    _WORD = 4
    _OUT = 0

    def __init__(self, data=b""):
        self._data = bytes(data)

    def update(self, data):
        self._data += data

    def digest(self):
        data = self._data
        size = self._WORD * 16  # block
        length = self._WORD * 2  # length field
        n = len(data)
        full = n - n % size  # bytes in whole blocks
        rest = n - full
        tail = bytearray(size if rest + 1 + length <= size else 2 * size)
        for i in range(rest):
            tail[i] = data[full + i]
        tail[rest] = 0x80
        bits = n * 8
        i = len(tail) - 1
        while bits:
            tail[i] = bits & 0xFF
            bits >>= 8
            i -= 1
        h = list(self._IV)
        for offset in range(0, full, size):
            self._compress(h, data, offset)
        for offset in range(0, len(tail), size):
            self._compress(h, tail, offset)
        width = self._WORD
        out = bytearray(self._OUT * width)
        for j in range(len(out)):  # the state words, big-endian
            out[j] = (h[j // width] >> (8 * (width - 1 - j % width))) & 0xFF
        return bytes(out)
