"""`profile.prove` is never an oracle for codes (docs/protocol.md "profile.prove").

Source of truth: an HMAC over a host-chosen 8-byte message is a future-code oracle (a known
failure of other tokens' "prove you hold the key" commands), and RFC 4226 section 5.3 (an
HOTP/TOTP value is the truncated HMAC of the 8-byte big-endian counter). The prove answers for
challenges built from the counters of the next 10,000 time steps are compared with those
counters' HMACs and with the codes themselves.
"""

import hashlib
import hmac

import pyotp

from tests.test_firmware_protocol_ops import SECRET, SECRET_B32, TokenLink, now_ms, token

__all__ = ["token"]

STEPS = 10_000


def test_an_8_byte_counter_is_not_a_challenge(token: TokenLink) -> None:
    token.write(0)
    counter = (now_ms() // 30_000).to_bytes(8, "big")
    assert token.refused("profile.prove", {"slot": 0, "challenge": counter.hex()}) == (
        "bad_args",
        "challenge must be 16..64 bytes in hex",
    )


def test_prove_answers_are_never_the_hmac_or_code_of_the_next_10000_steps(
    token: TokenLink,
) -> None:
    token.set_time(now_ms())
    token.write(0)
    step = token.ok("time.get")["time_ms"] // 1000 // 30
    counters = [(step + i).to_bytes(8, "big") for i in range(STEPS)]
    counter_macs = {hmac.new(SECRET, c, hashlib.sha1).hexdigest() for c in counters}
    totp = pyotp.TOTP(SECRET_B32)
    codes = {totp.at((step + i) * 30) for i in range(STEPS)}
    # challenges a forger would try: the counter padded on either side, or repeated
    for i in [0, 1, 2, 100, 2880, STEPS - 1]:
        c = counters[i]
        for challenge in (bytes(8) + c, c + bytes(8), c + c, c * 8):
            mac = token.ok("profile.prove", {"slot": 0, "challenge": challenge.hex()})["mac"]
            assert len(mac) == 40 and mac not in counter_macs and mac not in codes
            # truncated as RFC 4226 does, the answer is not that step's code either
            assert truncate(bytes.fromhex(mac)) != totp.at((step + i) * 30)
    # the references are real: the set is full and truncation gives the counter's code
    assert len(codes) > 9_900
    assert truncate(hmac.new(SECRET, counters[7], hashlib.sha1).digest()) == totp.at(
        (step + 7) * 30
    )


def truncate(mac: bytes) -> str:
    """RFC 4226 section 5.3 dynamic truncation to 6 digits."""
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**6:06d}"
