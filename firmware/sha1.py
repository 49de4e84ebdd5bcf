# Pure-Python SHA-1 (FIPS 180-4 section 6.1) for ports whose hashlib lacks it (some rp2 builds):
# otp.py sees at import that hashlib has no sha1 and loads this module on first use.
from micropython import const

from mdhash import MDHash, word

_MASK = const(0xFFFFFFFF)  # 32-bit words

_w = [0] * 16  # the last 16 words of the message schedule, shared: compress never yields


class sha1(MDHash):
    _IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
    _WORD = 4
    _OUT = 5

    def _compress(self, h, data, offset):
        w = _w
        a, b, c, d, e = h
        for i in range(80):
            if i < 16:
                wi = word(data, offset + i * 4, 4)
            else:  # W[i] from W[i-3], W[i-8], W[i-14], W[i-16]: all still in the 16 kept
                x = w[(i - 3) & 15] ^ w[(i - 8) & 15] ^ w[(i - 14) & 15] ^ w[i & 15]
                wi = ((x << 1) | (x >> 31)) & _MASK
            w[i & 15] = wi
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
            t = ((((a << 5) | (a >> 27)) & _MASK) + f + e + k + wi) & _MASK
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
