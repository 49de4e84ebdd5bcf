# Pure-Python SHA-512 (FIPS 180-4 section 6.4) for ports whose hashlib lacks it (the unix port
# has no SHA-512): otp.py sees that at import and loads this module on first use (sha256.py is
# its SHA-256 twin, kept apart so a SHA-512 profile loads only this).
#
# No value here may become a big integer: MicroPython keeps an int that does not fit a small
# int (62 bits and a sign on a 64-bit port) as an object on the heap, so a hash on 64-bit words
# allocated for every operation (1.37 MB per SHA-512 code; docs/firmware-memory.md). SHA-512
# therefore computes on 32-bit halves: each 64-bit word is a (high, low) pair, a rotation moves
# bits between the halves, and an addition carries from the low half into the high one. Every
# intermediate stays below 2**62, so SHA-512 allocates nothing per operation on a
# 64-bit port. On a 32-bit port (small ints hold 30 bits) 32-bit values are big integers there,
# as SHA-256's words always were: docs/firmware-memory.md has what that costs, and why 16-bit
# limbs (small on every port, but 1.7 KB more code) were measured and not kept.
#
# Masking: a sum is cut to 32 bits once, at the end (bits above 31 of its terms only reach
# bits above 31 of the sum). A low half that is added is masked first, because its sum's
# carry (lo >> 32) goes into the high half; a term that could reach 2**62 is masked too.
from mdhash import MDHash, word
from micropython import const

_M = const(0xFFFFFFFF)  # a 32-bit word, or one half of a 64-bit word

_w = [0] * 32  # the last 16 words of the message schedule, as high, low, high, ...
_s = [0] * 16  # the state at the start of a block, as high, low halves
# Shared by all hash objects: compress never yields.


class sha512(MDHash):
    """SHA-512 on 32-bit halves. The state words given to and taken from _compress are whole
    64-bit integers (MDHash pads, and writes the digest from them): they are split and joined
    once per block, not once per operation."""

    _WORD = 8
    _OUT = 8
    _IV = (
        0x6A09E667F3BCC908, 0xBB67AE8584CAA73B,
        0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
        0x510E527FADE682D1, 0x9B05688C2B3E6C1F,
        0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
    )

    _KH = (  # round constants of FIPS 180-4 section 4.2, high halves as big-endian bytes
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
        b"\xca\x27\x3e\xce\xd1\x86\xb8\xc7\xea\xda\x7d\xd6\xf5\x7d\x4f\x7f"
        b"\x06\xf0\x67\xaa\x0a\x63\x7d\xc5\x11\x3f\x98\x04\x1b\x71\x0b\x35"
        b"\x28\xdb\x77\xf5\x32\xca\xab\x7b\x3c\x9e\xbe\x0a\x43\x1d\x67\xc4"
        b"\x4c\xc5\xd4\xbe\x59\x7f\x29\x9c\x5f\xcb\x6f\xab\x6c\x44\x19\x8c"
    )

    _KL = (  # their low halves (two 320-byte blocks load where one 640 would not)
        b"\xd7\x28\xae\x22\x23\xef\x65\xcd\xec\x4d\x3b\x2f\x81\x89\xdb\xbc"
        b"\xf3\x48\xb5\x38\xb6\x05\xd0\x19\xaf\x19\x4f\x9b\xda\x6d\x81\x18"
        b"\xa3\x03\x02\x42\x45\x70\x6f\xbe\x4e\xe4\xb2\x8c\xd5\xff\xb4\xe2"
        b"\xf2\x7b\x89\x6f\x3b\x16\x96\xb1\x25\xc7\x12\x35\xcf\x69\x26\x94"
        b"\x9e\xf1\x4a\xd2\x38\x4f\x25\xe3\x8b\x8c\xd5\xb5\x77\xac\x9c\x65"
        b"\x59\x2b\x02\x75\x6e\xa6\xe4\x83\xbd\x41\xfb\xd4\x83\x11\x53\xb5"
        b"\xee\x66\xdf\xab\x2d\xb4\x32\x10\x98\xfb\x21\x3f\xbe\xef\x0e\xe4"
        b"\x3d\xa8\x8f\xc2\x93\x0a\xa7\x25\xe0\x03\x82\x6f\x0a\x0e\x6e\x70"
        b"\x46\xd2\x2f\xfc\x5c\x26\xc9\x26\x5a\xc4\x2a\xed\x9d\x95\xb3\xdf"
        b"\x8b\xaf\x63\xde\x3c\x77\xb2\xa8\x47\xed\xae\xe6\x14\x82\x35\x3b"
        b"\x4c\xf1\x03\x64\xbc\x42\x30\x01\xd0\xf8\x97\x91\x06\x54\xbe\x30"
        b"\xd6\xef\x52\x18\x55\x65\xa9\x10\x57\x71\x20\x2a\x32\xbb\xd1\xb8"
        b"\xb8\xd2\xd0\xc8\x51\x41\xab\x53\xdf\x8e\xeb\x99\xe1\x9b\x48\xa8"
        b"\xc5\xc9\x5a\x63\xe3\x41\x8a\xcb\x77\x63\xe3\x73\xd6\xb2\xb8\xa3"
        b"\x5d\xef\xb2\xfc\x43\x17\x2f\x60\xa1\xf0\xab\x72\x1a\x64\x39\xec"
        b"\x23\x63\x1e\x28\xde\x82\xbd\xe9\xb2\xc6\x79\x15\xe3\x72\x53\x2b"
        b"\xea\x26\x61\x9c\x21\xc0\xc2\x07\xcd\xe0\xeb\x1e\xee\x6e\xd1\x78"
        b"\x72\x17\x6f\xba\xa2\xc8\x98\xa6\xbe\xf9\x0d\xae\x13\x1c\x47\x1b"
        b"\x23\x04\x7d\x84\x40\xc7\x24\x93\x15\xc9\xbe\xbc\x9c\x10\x0d\x4c"
        b"\xcb\x3e\x42\xb6\xfc\x65\x7e\x2a\x3a\xd6\xfa\xec\x4a\x47\x58\x17"
    )

    def _compress(self, hs, data, offset):
        w = _w
        kh = self._KH
        kl = self._KL
        s = _s
        for j in range(8):
            s[2 * j] = hs[j] >> 32
            s[2 * j + 1] = hs[j] & _M
        ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl = s
        for i in range(80):
            j = (i & 15) * 2  # W[i] goes where W[i-16] was: w[j] high, w[j + 1] low
            if i < 16:
                w[j] = word(data, offset + i * 8, 4)
                w[j + 1] = word(data, offset + i * 8 + 4, 4)
            else:
                _schedule(w, j)
            # t1 = h + Sigma1(e) + Ch(e, f, g) + K[i] + W[i]; Sigma1 = ROTR 14 ^ ROTR 18 ^ ROTR 41
            th = (eh >> 14 | el << 18) ^ (eh >> 18 | el << 14) ^ (el >> 9 | eh << 23)
            tl = (el >> 14 | eh << 18) ^ (el >> 18 | eh << 14) ^ (eh >> 9 | el << 23)
            lo = hl + (tl & _M) + (gl ^ (el & (fl ^ gl))) + word(kl, i * 4, 4) + w[j + 1]
            th = (hh + th + (gh ^ (eh & (fh ^ gh))) + word(kh, i * 4, 4) + w[j] + (lo >> 32)) & _M
            tl = lo & _M
            hh, hl = gh, gl
            gh, gl = fh, fl
            fh, fl = eh, el
            lo = dl + tl  # e = d + t1
            eh, el = (dh + th + (lo >> 32)) & _M, lo & _M
            dh, dl = ch, cl
            # t1 + Sigma0(a) + Maj(a, b, c); Sigma0 = ROTR 28 ^ ROTR 34 ^ ROTR 39
            lo = (al >> 28 | ah << 4) ^ (ah >> 2 | al << 30) ^ (ah >> 7 | al << 25)
            lo = tl + (lo & _M) + ((al & bl) | (cl & (al | bl)))
            th += ((ah >> 28 | al << 4) ^ (al >> 2 | ah << 30) ^ (al >> 7 | ah << 25)) & _M
            th += (ah & bh) | (ch & (ah | bh))
            ch, cl = bh, bl
            bh, bl = ah, al
            ah, al = (th + (lo >> 32)) & _M, lo & _M
        _join(hs, 0, ah, al)
        _join(hs, 1, bh, bl)
        _join(hs, 2, ch, cl)
        _join(hs, 3, dh, dl)
        _join(hs, 4, eh, el)
        _join(hs, 5, fh, fl)
        _join(hs, 6, gh, gl)
        _join(hs, 7, hh, hl)


def _schedule(w, j):
    """W[i] of SHA-512 from W[i-15], W[i-2], W[i-16], W[i-7] (the 16 kept words in w, as
    high, low pairs): W[i] replaces W[i-16] at w[j], w[j + 1]. Apart from _compress so that
    neither function's code needs one long free block to load (docs/firmware-memory.md)."""
    p = (j + 2) & 31  # W[i-15]; sigma0 = ROTR 1 ^ ROTR 8 ^ SHR 7 (ROTR 1 moves its one bit
    # alone: a whole half shifted left by 31 could reach 2**63, a big integer)
    xh = w[p]
    xl = w[p + 1]
    s0h = (xh >> 1 | (xl & 1) << 31) ^ (xh >> 8 | xl << 24) ^ xh >> 7
    s0l = (xl >> 1 | (xh & 1) << 31) ^ (xl >> 8 | xh << 24) ^ (xl >> 7 | xh << 25)
    p = (j + 28) & 31  # W[i-2]; sigma1 = ROTR 19 ^ ROTR 61 ^ SHR 6
    xh = w[p]
    xl = w[p + 1]
    s1h = (xh >> 19 | xl << 13) ^ (xl >> 29 | xh << 3) ^ xh >> 6
    s1l = (xl >> 19 | xh << 13) ^ (xh >> 29 | xl << 3) ^ (xl >> 6 | xh << 26)
    p = (j + 18) & 31  # W[i-7]
    lo = w[j + 1] + (s0l & _M) + w[p + 1] + (s1l & _M)
    w[j] = (w[j] + s0h + w[p] + s1h + (lo >> 32)) & _M
    w[j + 1] = lo & _M


def _join(hs, j, hi, lo):
    """Add the halves hi, lo to the start-of-block state word j, as one 64-bit word in hs."""
    lo += _s[2 * j + 1]
    hs[j] = ((hi + _s[2 * j] + (lo >> 32)) & _M) << 32 | lo & _M
