# Pure-Python SHA-1 (FIPS 180-4 section 6.1) for ports whose hashlib lacks it (some rp2 builds):
# otp.py sees at import that hashlib has no sha1 and loads this module on first use.
from micropython import const

from mdhash import MDHash, word

_MASK = const(0xFFFFFFFF)  # 32-bit words

_w = [0] * 80  # message schedule, shared: compress never yields, so one is enough


class sha1(MDHash):
    _IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
    _WORD = 4
    _OUT = 5

    def _compress(self, h, data, offset):
        w = _w
        for i in range(16):
            w[i] = word(data, offset + i * 4, 4)
        for i in range(16, 80):
            x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
            w[i] = ((x << 1) | (x >> 31)) & _MASK
        a, b, c, d, e = h
        for i in range(80):
            if i < 20:
                f = (b & c) | ((b ^ _MASK) & d)
                k = 0x5A827999
            elif i < 40:
                f = b ^ c ^ d
                k = 0x6ED9EBA1
            elif i < 60:
                f = (b & c) | (b & d) | (c & d)
                k = 0x8F1BBCDC
            else:
                f = b ^ c ^ d
                k = 0xCA62C1D6
            t = ((((a << 5) | (a >> 27)) & _MASK) + f + e + k + w[i]) & _MASK
            e = d
            d = c
            c = ((b << 30) | (b >> 2)) & _MASK
            b = a
            a = t
        h[0] = (h[0] + a) & _MASK
        h[1] = (h[1] + b) & _MASK
        h[2] = (h[2] + c) & _MASK
        h[3] = (h[3] + d) & _MASK
        h[4] = (h[4] + e) & _MASK
