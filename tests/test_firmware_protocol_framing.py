"""firmware/link.py and firmware/protocol.py under real MicroPython, against docs/protocol.md.

Source of truth: docs/protocol.md's "Framing", "Request" and "Error codes" sections. Each
test feeds bytes into the firmware's line cutter and parser in one MicroPython run and prints
one JSON object per line or answer, which is compared with what the document says.
"""

import json
import random

from tests.micropython_runner import run_micropython

# Feeds the bytes of DATA (hex) one by one into link.Lines and answers each line as main.py
# does, but without a device: a parsed request is printed as {"parsed": [id, op, args]}.
_FEED = """\
import json
from binascii import unhexlify
import link, protocol

lines = link.Lines()
lines.interrupt = {interrupt}
out = []
for b in unhexlify({data!r}):
    try:
        got = lines.feed(b)
    except KeyboardInterrupt:
        out.append({{"interrupt": True}})
        continue
    if got is None:
        continue
    if got == link.TOO_LONG:
        out.append(protocol.refusal(None, "too_long", "line longer than 512 bytes"))
        continue
    try:
        out.append({{"parsed": list(protocol.parse(got))}})
    except protocol.Refused as e:
        out.append(protocol.refusal(e.rid, e.code, e.message))
print(json.dumps(out))
"""


def feed(data: bytes, interrupt: bool = True) -> list[dict]:
    return json.loads(run_micropython(_FEED.format(data=data.hex(), interrupt=interrupt)))


def refused(rid: int | None, code: str, message: str) -> dict:
    return {"id": rid, "ok": False, "error": code, "message": message}


def test_a_request_line_is_parsed_with_crlf_or_lf() -> None:
    data = b'@{"v": 1, "id": 7, "op": "time.get", "args": {}}\n@{"v":1,"id":8,"op":"info"}\r\n'
    assert feed(data) == [
        {"parsed": [7, "time.get", {}]},
        {"parsed": [8, "info", {}]},
    ]


def test_lines_without_the_marker_are_ignored_without_an_answer() -> None:
    data = b'MicroPython v1.29\r\n>>> \n\n\r\n{"v":1,"id":1,"op":"info"}\n'
    data += b'@{"v":1,"id":2,"op":"info"}\n'
    assert feed(data) == [{"parsed": [2, "info", {}]}]


def test_a_line_of_512_bytes_is_read_and_513_is_too_long() -> None:
    head = b'@{"v":1,"id":3,"op":"info","args":{"pad":"'
    tail = b'"}}'

    def line(size: int) -> bytes:
        return head + b"x" * (size - len(head) - len(tail)) + tail

    assert len(line(512)) == 512
    answers = feed(line(512) + b"\n" + line(513) + b"\n" + b'@{"v":1,"id":4,"op":"info"}\n')
    assert answers == [
        {"parsed": [3, "info", {"pad": "x" * (512 - len(head) - len(tail))}]},
        refused(None, "too_long", "line longer than 512 bytes"),
        {"parsed": [4, "info", {}]},
    ]


def test_a_line_of_512_bytes_ending_in_crlf_is_read() -> None:
    """docs/protocol.md: the limit excludes the newline and the carriage return."""
    head = b'@{"v":1,"id":3,"op":"info","args":{"pad":"'
    tail = b'"}}'
    pad = b"x" * (512 - len(head) - len(tail))
    answers = feed(head + pad + tail + b"\r\n" + head + pad + b"x" + tail + b"\r\n")
    assert answers == [
        {"parsed": [3, "info", {"pad": pad.decode()}]},
        refused(None, "too_long", "line longer than 512 bytes"),
    ]


def test_a_long_line_without_the_marker_is_dropped_silently() -> None:
    assert feed(b"x" * 5000 + b"\n" + b'@{"v":1,"id":5,"op":"info"}\n') == [
        {"parsed": [5, "info", {}]}
    ]


def test_text_the_host_cannot_decode_is_bad_utf8_and_good_text_is_read() -> None:
    """Overlong forms, surrogates, code points past U+10FFFF and cut sequences (which
    MicroPython's own decoder lets through), and a JSON escape of a surrogate, are refused:
    stored in a label, they would make every later answer undecodable by a host."""
    bad_utf8 = refused(None, "bad_utf8", "line is not valid UTF-8")

    def request(label: bytes) -> bytes:
        return b'@{"v":3,"id":1,"op":"info","args":{"label":"' + label + b'"}}\n'

    bad = [
        b"\xc0\x80",  # overlong NUL
        b"\xe0\x80\xaf",  # overlong "/"
        b"\xed\xa0\x80",  # U+D800, a surrogate
        b"\xf4\x90\x80\x80",  # U+110000
        b"\xf5\x80\x80\x80",
        b"\xe4\xb8",  # cut short
        b"\x80",  # a continuation byte alone
        b"\\ud800",  # JSON escapes of surrogates, a pair too
        b"\\uDFFF",
        b"\\ud83d\\ude00",
    ]
    good = {
        "\u5f20\u4e09".encode(): "\u5f20\u4e09",
        "\U0001f600".encode(): "\U0001f600",  # past U+FFFF, as its own four bytes
        "\U0010ffff".encode(): "\U0010ffff",
        b"\\u00e9": "\u00e9",
        b"\\\\ud800": "\\ud800",  # an escaped backslash, then the letters: no surrogate
    }
    answers = feed(b"".join(request(label) for label in [*bad, *good]))
    assert answers[: len(bad)] == [bad_utf8] * len(bad)
    assert answers[len(bad) :] == [{"parsed": [1, "info", {"label": t}]} for t in good.values()]


def test_the_firmwares_utf8_check_agrees_with_cpythons_decoder() -> None:
    """protocol.well_formed on random bytes (no backslash: escapes are the test above) is
    True exactly when CPython's strict UTF-8 decoder takes them."""
    rng = random.Random(20261207)
    alphabet = [b for b in range(256) if b != 0x5C]
    ranges = [(0x20, 0x7E), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]

    def text_with_one_byte_changed() -> bytes:
        text = "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 3)))
        data = bytearray(text.encode().replace(b"\\", b"/"))
        if rng.random() < 0.5:
            data[rng.randrange(len(data))] = rng.choice(alphabet)
        return bytes(data)

    samples = [text_with_one_byte_changed() for _ in range(300)]
    samples += [bytes(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(300)]
    hexes = [s.hex() for s in samples]
    code = (
        "import json\nfrom binascii import unhexlify\nimport protocol\n"
        f"print(json.dumps([protocol.well_formed(unhexlify(h)) for h in {hexes!r}]))\n"
    )
    verdicts = json.loads(run_micropython(code))

    def decodes(data: bytes) -> bool:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    assert verdicts == [decodes(s) for s in samples]
    assert 100 < sum(verdicts) < 500  # both answers are well represented


def test_bad_lines_get_the_documented_error_codes_and_messages() -> None:
    cases = [
        (b"@\xff\xfe{}", refused(None, "bad_utf8", "line is not valid UTF-8")),
        (b"@not json", refused(None, "bad_json", "line is not a JSON object")),
        (b"@[1, 2]", refused(None, "bad_json", "line is not a JSON object")),
        (b'@"text"', refused(None, "bad_json", "line is not a JSON object")),
        (b"@", refused(None, "bad_json", "line is not a JSON object")),
        (
            b'@{"v":1,"op":"info"}',
            refused(None, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":1,"id":true,"op":"info"}',
            refused(None, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":1,"id":-1,"op":"info"}',
            refused(None, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":1,"id":2147483648,"op":"info"}',
            refused(None, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":1,"id":9,"op":3}',
            refused(9, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":1,"id":9,"op":"info","args":[]}',
            refused(9, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":"1","id":9,"op":"info"}',
            refused(9, "bad_request", "request needs v, id, op and optional args"),
        ),
        (
            b'@{"v":true,"id":9,"op":"info"}',
            refused(9, "bad_request", "request needs v, id, op and optional args"),
        ),
        (b'@{"v":1,"id":9,"op":"info","x":1}', refused(9, "bad_request", "unknown key: x")),
        (
            b'@{"v":4,"id":9,"op":"info"}',
            refused(9, "bad_version", "protocol version 4 not supported (device speaks 1..3)"),
        ),
        (
            b'@{"v":0,"id":9,"op":"info"}',
            refused(9, "bad_version", "protocol version 0 not supported (device speaks 1..3)"),
        ),
    ]
    data = b"".join(line + b"\n" for line, _ in cases)
    assert feed(data) == [answer for _, answer in cases]


def test_ctrl_c_interrupts_before_lock_and_is_dropped_after() -> None:
    data = b'@{"v":1,\x03"id":1,"op":"info"}\n@{"v":1,"id":2,"op":"info"}\n'
    assert feed(data, interrupt=True) == [{"interrupt": True}, {"parsed": [2, "info", {}]}]
    assert feed(data, interrupt=False) == [
        {"parsed": [1, "info", {}]},
        {"parsed": [2, "info", {}]},
    ]
    assert feed(b'\x03\x03@{"v":1,"id":3,"op":"info"}\n', interrupt=False) == [
        {"parsed": [3, "info", {}]}
    ]


def test_random_bytes_never_break_the_line_cutter_or_the_parser() -> None:
    rng = random.Random(4)
    chunks = []
    for _ in range(300):
        size = rng.choice([0, 1, 5, 40, 300, 511, 512, 513, 2000])
        body = bytes(rng.randrange(256) for _ in range(size)).replace(b"\x03", b"")
        chunks.append(rng.choice([b"", b"@"]) + body)
    data = b"\n".join(chunks) + b'\n@{"v":1,"id":77,"op":"info"}\n'
    answers = feed(data)
    assert answers[-1] == {"parsed": [77, "info", {}]}
    codes = {a["error"] for a in answers[:-1] if "error" in a}
    assert codes <= {"too_long", "bad_utf8", "bad_json", "bad_request"}
    assert "too_long" in codes and "bad_json" in codes
