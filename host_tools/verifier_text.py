"""The verifier's admin data as people read it: aligned fields, tables, ISO 8601 UTC times.

Pure functions over the dicts Verifier.show, list_tokens and audit return; `baoling verifier`
prints these unless --json asks for the dicts themselves, with Unix times (docs/cli.md).
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def iso_utc(timestamp: float | None) -> str:
    """A Unix time as ISO 8601 in UTC to the second (`2026-01-31T09:30:00Z`); None is `-`."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, two spaces apart, no trailing spaces."""
    lines = (headers, *rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def token_state(info: dict[str, Any]) -> str:
    """lost, disabled, locked until a time, or ok with the count of failures since the last
    success."""
    if info.get("lost"):
        return "lost (disabled until found)"
    if not info["enabled"]:
        return "disabled"
    if info["locked"]:
        return f"locked until {iso_utc(info['locked_until'])}"
    return f"ok ({info['fail_count']} failures)" if info["fail_count"] else "ok"


def token_list(tokens: Sequence[dict[str, Any]]) -> str:
    """One row per token: id, algorithm, digits, period, state."""
    return table(
        ["TOKEN", "ALGORITHM", "DIGITS", "PERIOD", "STATE"],
        [
            [t["token"], t["algorithm"].upper(), str(t["digits"]), _timing(t)] + [token_state(t)]
            for t in tokens
        ],
    )


def _timing(info: dict[str, Any]) -> str:
    """A TOTP token's period, or where an HOTP token's next code is."""
    return f"counter {info['counter']}" if info["kind"] == "hotp" else f"{info['period']} s"


def token_fields(info: dict[str, Any]) -> str:
    """One field a line, names aligned: settings, state, the learned clock, enrolment time."""
    drift = info["drift"]
    step = info["last_step"]
    fields = [
        ("Token", info["token"]),
        ("Label", info["label"] or f"{info['token']} (the token id)"),
        ("Issuer", info["issuer"] or "-"),
        ("Algorithm", info["algorithm"].upper()),
        ("Digits", str(info["digits"])),
        ("Period", f"{info['period']} s"),
        ("State", token_state(info)),
        ("Failed attempts", str(info["fail_count"])),
        (
            "Last accepted code",
            "none yet" if step is None else f"{iso_utc(step * info['period'])} (time step {step})",
        ),
        ("Clock offset", _offset(drift["offset_s"], drift["at"])),
        ("Clock rate", f"{drift['rate_ppm'] + 0.0:+.2f} ppm"),
        ("Clock observations", str(len(drift["history"]))),
        ("Last resync", "never" if drift["since"] is None else iso_utc(drift["since"])),
        ("Enrolled", iso_utc(info["created"])),
        ("Device PIN", "yes" if info["device_pin"] else "no"),
    ]
    if info["kind"] == "hotp":  # a counter token has no period and no clock to learn
        fields = [(name, value) for name, value in fields if name not in _TOTP_ONLY]
        fields.insert(5, ("Next counter", str(info["counter"])))
    width = max(len(name) for name, _ in fields) + 1
    return "\n".join(f"{name + ':':<{width}}  {value}" for name, value in fields)


_TOTP_ONLY = (
    "Period",
    "Last accepted code",
    "Clock offset",
    "Clock rate",
    "Clock observations",
    "Last resync",
)


def _offset(offset_s: float, at: float | None) -> str:
    """How far the token's clock is ahead of or behind the verifier's, and as of when."""
    if at is None:
        return "0.0 s (no code seen yet)"
    size = f"{abs(offset_s):.1f} s"
    side = " ahead" if offset_s > 0 else " behind" if offset_s < 0 else ""
    return f"{size}{side if size != '0.0 s' else ''} (as of {iso_utc(at)})"


def audit_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The audit rows as a table, newest first; each detail as key=value pairs."""
    return table(
        ["SEQ", "TIME", "ACTION", "TOKEN", "DETAIL"],
        [
            [str(r["seq"]), iso_utc(r["ts"]), r["action"], r["token"] or "-", _detail(r["detail"])]
            for r in rows
        ],
    )


def _detail(detail: dict[str, Any]) -> str:
    return " ".join(f"{key}={_value(key, value)}" for key, value in sorted(detail.items()))


def _value(key: str, value: Any) -> str:
    if key == "locked_until":  # the one time in a detail (a lock row)
        return iso_utc(value)
    return value if isinstance(value, str) else json.dumps(value)


def user_state(info: dict[str, Any]) -> str:
    return "active" if info["active"] else f"deactivated {iso_utc(info['deactivated'])}"


def user_list(users: Sequence[dict[str, Any]]) -> str:
    """One row per user: name@realm, state, tokens with their roles."""
    return table(
        ["USER", "STATE", "TOKENS"],
        [[u["user"], user_state(u), _user_tokens(u)] for u in users],
    )


# A user's login_rounds, as `user show` and `user login-rounds` say it.
ROUNDS = {
    "client": "as its client entry says",
    "one": "in one round",
    "two": "in two rounds",
}


def user_fields(info: dict[str, Any]) -> str:
    """One field a line, names aligned: the user, its attributes, state and tokens."""
    fields = [
        ("User", info["user"]),
        ("Display name", info["display_name"] or "-"),
        ("E-mail", info["email"] or "-"),
        ("Phone", info["phone"] or "-"),
        ("Resolver", info["resolver"]),
        ("State", user_state(info)),
        ("RADIUS login", ROUNDS[info["login_rounds"]]),
        ("Tokens", _user_tokens(info)),
        ("Added", iso_utc(info["created"])),
    ]
    width = max(len(name) for name, _ in fields) + 1
    return "\n".join(f"{name + ':':<{width}}  {value}" for name, value in fields)


def _user_tokens(info: dict[str, Any]) -> str:
    return ", ".join(f"{t['token']} ({t['role']})" for t in info["tokens"]) or "none"


def _count(number: int, noun: str) -> str:
    """A count with its noun, in the singular for one: "1 token", "3 tokens"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def import_result(result: dict[str, Any]) -> str:
    """A dry run: each token with its user and each user to add, then the totals; an import:
    the totals."""
    tokens, added = result["tokens"], result["users_added"]
    owned = sum(1 for t in tokens if t["user"] is not None)
    if result["dry_run"]:
        rows = [[t["token"], t["user"] or "-", t["role"] or "-"] for t in tokens]
        lines = [table(["TOKEN", "USER", "ROLE"], rows), *(f"New user: {u}" for u in added)]
        lines.append(
            f"Dry run: would enrol {_count(len(tokens), 'token')}, add "
            f"{_count(len(added), 'user')} and assign {_count(owned, 'token')}; "
            "nothing was changed."
        )
        return "\n".join(lines)
    return (
        f"Imported {_count(len(tokens), 'token')}, added {_count(len(added), 'user')}, "
        f"assigned {_count(owned, 'token')}."
    )


def refresh_results(results: Sequence[dict[str, Any]]) -> str:
    """One line per directory user refreshed: what changed, or why it was deactivated."""
    if not results:
        return "No directory user to refresh."
    lines = []
    for r in results:
        if r["result"] == "updated":
            lines.append(f"{r['user']}: updated {', '.join(r['changed'])}")
        elif r["result"] == "deactivated":
            lines.append(f"{r['user']}: deactivated ({r['reason']})")
        else:
            lines.append(f"{r['user']}: unchanged")
    return "\n".join(lines)
