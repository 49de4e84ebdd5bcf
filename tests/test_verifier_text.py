"""What `baoling verifier show`, `list` and `audit` print for people: aligned fields and tables,
times in ISO 8601 UTC, never a Python dict or a Unix time. The expected text is written out by
hand from the inputs below."""

from baoling.host_tools.verifier_text import audit_rows, iso_utc, token_fields, token_list

# 2026-01-31T09:30:00Z
T = 1769851800.0

FRESH = {
    "token": "alice",
    "kind": "totp",
    "algorithm": "sha1",
    "digits": 6,
    "period": 30,
    "counter": None,
    "issuer": "",
    "label": "",
    "enabled": True,
    "fail_count": 0,
    "locked_until": None,
    "locked": False,
    "last_step": None,
    "drift": {"v": 1, "offset_s": 0.0, "rate_ppm": 0.0, "at": None, "history": [], "since": None},
    "created": T,
    "device_pin": False,
}

USED = FRESH | {
    "token": "BL-0042-1",
    "algorithm": "sha256",
    "digits": 8,
    "period": 60,
    "issuer": "Example",
    "label": "bob@example.com",
    "fail_count": 2,
    "locked_until": T + 3600,
    "locked": True,
    "last_step": int(T) // 60 + 10,
    "drift": {
        "v": 1,
        "offset_s": -1.26,
        "rate_ppm": 3.456,
        "at": T + 660,
        "history": [[T + 600, -1.0], [T + 660, -1.5]],
        "since": T + 600,
    },
}


def test_iso_utc_is_iso_8601_with_a_z_and_a_dash_for_none():
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(T + 0.999) == "2026-01-31T09:30:00Z"
    assert iso_utc(None) == "-"


def test_a_fresh_token_shows_one_named_field_a_line():
    assert token_fields(FRESH).splitlines() == [
        "Token:               alice",
        "Label:               alice (the token id)",
        "Issuer:              -",
        "Algorithm:           SHA1",
        "Digits:              6",
        "Period:              30 s",
        "State:               ok",
        "Failed attempts:     0",
        "Last accepted code:  none yet",
        "Clock offset:        0.0 s (no code seen yet)",
        "Clock rate:          +0.00 ppm",
        "Clock observations:  0",
        "Last resync:         never",
        "Enrolled:            2026-01-31T09:30:00Z",
        "Device PIN:          no",
    ]


def test_a_used_token_shows_its_lock_last_code_and_learned_clock_as_times():
    assert token_fields(USED).splitlines() == [
        "Token:               BL-0042-1",
        "Label:               bob@example.com",
        "Issuer:              Example",
        "Algorithm:           SHA256",
        "Digits:              8",
        "Period:              60 s",
        "State:               locked until 2026-01-31T10:30:00Z",
        "Failed attempts:     2",
        "Last accepted code:  2026-01-31T09:40:00Z (time step 29497540)",
        "Clock offset:        1.3 s behind (as of 2026-01-31T09:41:00Z)",
        "Clock rate:          +3.46 ppm",
        "Clock observations:  2",
        "Last resync:         2026-01-31T09:40:00Z",
        "Enrolled:            2026-01-31T09:30:00Z",
        "Device PIN:          no",
    ]


def test_an_offset_ahead_and_a_rounded_zero_offset():
    ahead = FRESH | {"drift": FRESH["drift"] | {"offset_s": 12.0, "at": T}}
    assert "Clock offset:        12.0 s ahead (as of 2026-01-31T09:30:00Z)" in token_fields(ahead)
    tiny = FRESH | {"drift": FRESH["drift"] | {"offset_s": -0.01, "rate_ppm": -0.0, "at": T}}
    text = token_fields(tiny)
    assert "Clock offset:        0.0 s (as of 2026-01-31T09:30:00Z)" in text
    assert "Clock rate:          +0.00 ppm" in text


def test_list_is_a_table_whose_columns_fit_the_longest_id():
    disabled = FRESH | {"token": "carol", "enabled": False}
    failing = FRESH | {"token": "dave", "fail_count": 3}
    # A lock that no longer holds (it ended, or a clock far ahead set it) is not shown.
    ended = USED | {"token": "erin", "fail_count": 10, "locked": False}
    assert token_list([FRESH, USED, disabled, failing, ended]).splitlines() == [
        "TOKEN      ALGORITHM  DIGITS  PERIOD  STATE",
        "alice      SHA1       6       30 s    ok",
        "BL-0042-1  SHA256     8       60 s    locked until 2026-01-31T10:30:00Z",
        "carol      SHA1       6       30 s    disabled",
        "dave       SHA1       6       30 s    ok (3 failures)",
        "erin       SHA256     8       60 s    ok (10 failures)",
    ]


def test_audit_rows_are_a_table_with_iso_times_and_key_value_details():
    rows = [
        {
            "seq": 12,
            "ts": T + 61,
            "action": "lock",
            "token": "alice",
            "detail": {"fail_count": 5, "locked_until": T + 3600},
        },
        {
            "seq": 11,
            "ts": T + 60,
            "action": "api_key_create",
            "token": None,
            "detail": {"key_id": "k1", "name": "vpn", "scopes": ["validate"]},
        },
        {"seq": 9, "ts": T, "action": "disable", "token": "alice", "detail": {}},
    ]
    assert audit_rows(rows).splitlines() == [
        "SEQ  TIME                  ACTION          TOKEN  DETAIL",
        "12   2026-01-31T09:31:01Z  lock            alice  fail_count=5 "
        "locked_until=2026-01-31T10:30:00Z",
        '11   2026-01-31T09:31:00Z  api_key_create  -      key_id=k1 name=vpn scopes=["validate"]',
        "9    2026-01-31T09:30:00Z  disable         alice",
    ]
