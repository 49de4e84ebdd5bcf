"""The pure-Python SHA fallbacks (firmware/sha1.py, firmware/sha2.py) under real MicroPython.

Source of truth: CPython's hashlib. Messages of every length around the block boundaries
(55/56 and 111/112 bytes decide whether the length field needs an extra block), fed whole and
in uneven pieces, in one MicroPython run.
"""

import hashlib
import json

from tests.micropython_runner import run_micropython

_LENGTHS = [*range(0, 140), 200, 255, 256, 257, 1000]

_PROGRAM = """\
import json
import sha1
import sha2

data = bytes(i * 7 % 251 for i in range(1000))
out = {}
for name, new in (("sha1", sha1.sha1), ("sha256", sha2.sha256), ("sha512", sha2.sha512)):
    whole = []
    pieces = []
    for n in LENGTHS:
        whole.append(new(data[:n]).digest().hex())
        h = new()
        i = 0
        step = 1
        while i < n:
            h.update(data[i:min(n, i + step)])
            i += step
            step = step * 3 % 61 + 1
        pieces.append(h.digest().hex())
    out[name] = [whole, pieces]
h = sha2.sha512(b"abc")
out["digest_twice"] = [h.digest().hex(), h.digest().hex()]
h.update(b"more")
out["digest_after_more"] = h.digest().hex()
print(json.dumps(out))
"""


def test_fallbacks_match_cpython_hashlib() -> None:
    out = json.loads(run_micropython(f"LENGTHS = {_LENGTHS!r}\n" + _PROGRAM))
    data = bytes(i * 7 % 251 for i in range(1000))
    for name in ("sha1", "sha256", "sha512"):
        expected = [hashlib.new(name, data[:n]).hexdigest() for n in _LENGTHS]
        whole, pieces = out[name]
        assert whole == expected, name
        assert pieces == expected, name
    # like CPython's hashlib: digest() does not end the hash
    assert out["digest_twice"] == [hashlib.sha512(b"abc").hexdigest()] * 2
    assert out["digest_after_more"] == hashlib.sha512(b"abcmore").hexdigest()
