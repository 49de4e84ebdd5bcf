"""The pure-Python SHA fallbacks (firmware/sha1.py, sha256.py, sha512.py) under real MicroPython.

Source of truth: CPython's hashlib. Messages of every length around the block boundaries
(55/56 and 111/112 bytes decide whether the length field needs an extra block), fed whole and
in uneven pieces, in one MicroPython run. Each digest is printed on its own line: one large
JSON text at the end needs a large contiguous block, which a heap that has seen little garbage
(and so few collections) may not have.
"""

import hashlib

from tests.micropython_runner import run_micropython

_LENGTHS = [*range(0, 140), 200, 255, 256, 257, 1000]

_PROGRAM = """\
import sha1
import sha256
import sha512

data = bytes(i * 7 % 251 for i in range(1000))
for name, new in (("sha1", sha1.sha1), ("sha256", sha256.sha256), ("sha512", sha512.sha512)):
    for n in LENGTHS:
        print(name, "whole", n, new(data[:n]).digest().hex())
        h = new()
        i = 0
        step = 1
        while i < n:
            h.update(data[i:min(n, i + step)])
            i += step
            step = step * 3 % 61 + 1
        print(name, "pieces", n, h.digest().hex())
h = sha512.sha512(b"abc")
print("digest_twice", h.digest().hex(), h.digest().hex())
h.update(b"more")
print("digest_after_more", h.digest().hex())
"""


def test_fallbacks_match_cpython_hashlib() -> None:
    lines = run_micropython(f"LENGTHS = {_LENGTHS!r}\n" + _PROGRAM).splitlines()
    data = bytes(i * 7 % 251 for i in range(1000))
    expected = [
        f"{name} {how} {n} {hashlib.new(name, data[:n]).hexdigest()}"
        for name in ("sha1", "sha256", "sha512")
        for n in _LENGTHS
        for how in ("whole", "pieces")
    ]
    assert lines[:-2] == expected
    # like CPython's hashlib: digest() does not end the hash
    abc = hashlib.sha512(b"abc").hexdigest()
    assert lines[-2] == f"digest_twice {abc} {abc}"
    assert lines[-1] == f"digest_after_more {hashlib.sha512(b'abcmore').hexdigest()}"


# SHA-512 computes on 32-bit halves with explicit carries (firmware/sha512.py): bytes with the
# top bits set (0xff runs) and a pseudo-random mix make the low-half sums carry in every way.
_SHA512_PROGRAM = """\
import sha512

mixed = bytes((i * 167 + 13) % 256 for i in range(300))
for n in range(301):
    print(sha512.sha512(mixed[:n]).digest().hex(), sha512.sha512(b"\\xff" * n).digest().hex())
"""


def test_sha512_fallback_matches_cpython_on_every_length_to_300_bytes() -> None:
    mixed = bytes((i * 167 + 13) % 256 for i in range(300))
    ones = b"\xff" * 300
    expected = [
        f"{hashlib.sha512(mixed[:n]).hexdigest()} {hashlib.sha512(ones[:n]).hexdigest()}"
        for n in range(301)
    ]
    assert run_micropython(_SHA512_PROGRAM).splitlines() == expected
