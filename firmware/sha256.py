# Pure-Python SHA-256 (FIPS 180-4 section 6.2) for ports whose hashlib lacks it: otp.py sees
# that at import and loads this module on first use. Apart from sha512.py so that a SHA-512
# profile never loads it (2 KB of a 64 KB heap; docs/firmware-memory.md).
#
# Every value stays below 2**62, a small int on a 64-bit port, so nothing is allocated per
# operation there; on a 32-bit port (small ints hold 30 bits) the 32-bit words are big integers.
# A sum is cut to 32 bits once, at the end (bits above 31 of its terms only reach bits above 31
# of the sum).
from mdhash import MDHash, word
from micropython import const

_M = const(0xFFFFFFFF)  # a 32-bit word

_w = [0] * 16  # the last 16 words of the message schedule, shared: compress never yields


class sha256(MDHash):
    _WORD = 4
    _OUT = 8
    _IV = (
        0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
        0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
    )
    _K = (  # round constants of FIPS 180-4 section 4.2, as big-endian bytes
        b"\x42\x8a\x2f\x98\x71\x37\x44\x91\xb5\xc0\xfb\xcf\xe9\xb5\xdb\xa5"
        b"\x39\x56\xc2\x5b\x59\xf1\x11\xf1\x92\x3f\x82\xa4\xab\x1c\x5e\xd5"
        b"\xd8\x07\xaa\x98\x12\x83\x5b\x01\x24\x31\x85\xbe\x55\x0c\x7d\xc3"
        b"\x72\xbe\x5d\x74\x80\xde\xb1\xfe\x9b\xdc\x06\xa7\xc1\x9b\xf1\x74"
        b"\xe4\x9b\x69\xc1\xef\xbe\x47\x86\x0f\xc1\x9d\xc6\x24\x0c\xa1\xcc"
        b"\x2d\xe9\x2c\x6f\x4a\x74\x84\xaa\x5c\xb0\xa9\xdc\x76\xf9\x88\xda"
        b"\x98\x3e\x51\x52\xa8\x31\xc6\x6d\xb0\x03\x27\xc8\xbf\x59\x7f\xc7"
        b"\xc6\xe0\x0b\xf3\xd5\xa7\x91\x47\x06\xca\x63\x51\x14\x29\x29\x67"
        b"\x27\xb7\x0a\x85\x2e\x1b\x21\x38\x4d\x2c\x6d\xfc\x53\x38\x0d\x13"
        b"\x65\x0a\x73\x54\x76\x6a\x0a\xbb\x81\xc2\xc9\x2e\x92\x72\x2c\x85"
        b"\xa2\xbf\xe8\xa1\xa8\x1a\x66\x4b\xc2\x4b\x8b\x70\xc7\x6c\x51\xa3"
        b"\xd1\x92\xe8\x19\xd6\x99\x06\x24\xf4\x0e\x35\x85\x10\x6a\xa0\x70"
        b"\x19\xa4\xc1\x16\x1e\x37\x6c\x08\x27\x48\x77\x4c\x34\xb0\xbc\xb5"
        b"\x39\x1c\x0c\xb3\x4e\xd8\xaa\x4a\x5b\x9c\xca\x4f\x68\x2e\x6f\xf3"
        b"\x74\x8f\x82\xee\x78\xa5\x63\x6f\x84\xc8\x78\x14\x8c\xc7\x02\x08"
        b"\x90\xbe\xff\xfa\xa4\x50\x6c\xeb\xbe\xf9\xa3\xf7\xc6\x71\x78\xf2"
    )

    def _compress(self, hs, data, offset):
        w = _w
        k = self._K
        a, b, c, d, e, f, g, h = hs
        for i in range(64):
            if i < 16:
                wi = word(data, offset + i * 4, 4)
            else:  # W[i-15], W[i-2], W[i-16], W[i-7]: all still in the 16 kept
                x = w[(i + 1) & 15]
                y = w[(i + 14) & 15]
                s0 = (x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ x >> 3  # sigma0
                s1 = (y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ y >> 10  # sigma1
                wi = (w[i & 15] + s0 + w[(i + 9) & 15] + s1) & _M
            w[i & 15] = wi
            s1 = (e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)  # Sigma1
            t1 = h + s1 + (g ^ (e & (f ^ g))) + word(k, i * 4, 4) + wi
            s0 = ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) & _M  # Sigma0
            t2 = s0 + ((a & b) | (c & (a | b)))
            h = g
            g = f
            f = e
            e = (d + t1) & _M
            d = c
            c = b
            b = a
            a = (t1 + t2) & _M
        hs[0] = (hs[0] + a) & _M
        hs[1] = (hs[1] + b) & _M
        hs[2] = (hs[2] + c) & _M
        hs[3] = (hs[3] + d) & _M
        hs[4] = (hs[4] + e) & _M
        hs[5] = (hs[5] + f) & _M
        hs[6] = (hs[6] + g) & _M
        hs[7] = (hs[7] + h) & _M
