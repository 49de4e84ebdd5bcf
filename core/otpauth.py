"""The Key-URI format (otpauth://totp/..., otpauth://hotp/...) of Google Authenticator, built and
read in one place.

Built: the label is `issuer:account` with each part percent-encoded (a colon inside either is
encoded too, so only the separator is a literal colon), every parameter is written even when it
is the default (apps that drop a 60-second period give wrong codes silently), the secret is
upper-case base32 without padding, the algorithm upper-case.

Read: the label is `account` or `issuer:account` (the colon literal or encoded, a space allowed
after it), `secret`
follows baoling/core/base32.py's rules, `issuer`, `algorithm` (any case), `digits` and `period`
are optional, parameters the format does not define are ignored, and each defined one may
appear once. What a TOTP token cannot do (HOTP, limits from core/limits.py, issuers that
disagree) is refused with CoreError rather than guessed. HOTP (counter) URIs, which the verifier
enrols, carry `counter` instead of `period`: built with `KeyUri.counter` set, read only when the
caller asks for them (`parse(uri, hotp=True)`), the counter then required.
"""

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from baoling.core import base32
from baoling.core.errors import CoreError
from baoling.core.limits import (
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    MAX_COUNTER,
    check_parameters,
)

_KNOWN = ("secret", "issuer", "algorithm", "digits", "period", "counter")


@dataclass(frozen=True)
class KeyUri:
    """What one otpauth URI says. `repr` leaves the secret out so it never reaches a log."""

    secret: bytes
    account: str
    issuer: str = ""
    algorithm: str = DEFAULT_ALGORITHM
    digits: int = DEFAULT_DIGITS
    period_s: int = DEFAULT_PERIOD_S
    # An HOTP key's next counter (RFC 4226's C); None for a TOTP key, which has `period_s`.
    counter: int | None = None

    def __repr__(self) -> str:
        timing = f"period_s={self.period_s}" if self.counter is None else f"counter={self.counter}"
        return (
            f"KeyUri(account={self.account!r}, issuer={self.issuer!r}, "
            f"algorithm={self.algorithm!r}, digits={self.digits}, {timing})"
        )


def build(key: KeyUri) -> str:
    """The otpauth URI of `key`, so a phone app or another server shows the same codes."""
    label = quote(key.account, safe="@")
    if key.issuer:
        label = f"{quote(key.issuer, safe='')}:{label}"
    timing = {"period": key.period_s} if key.counter is None else {"counter": key.counter}
    query = {
        "secret": base32.encode(key.secret),
        **({"issuer": key.issuer} if key.issuer else {}),
        "algorithm": key.algorithm.upper(),
        "digits": key.digits,
        **timing,
    }
    kind = "totp" if key.counter is None else "hotp"
    return f"otpauth://{kind}/{label}?{urlencode(query, quote_via=quote)}"


def parse(uri: str, *, hotp: bool = False) -> KeyUri:
    """The key an otpauth://totp/ URI holds, or with `hotp` also an otpauth://hotp/ one;
    CoreError says what is wrong (never the secret)."""
    parts = urlsplit(uri.strip())
    kind = parts.netloc.lower()
    if parts.scheme.lower() == "otpauth" and kind == "hotp" and not hotp:
        raise CoreError(
            "The otpauth URI is for HOTP (counter-based codes); a Baoling token shows TOTP only."
        )
    if parts.scheme.lower() != "otpauth" or kind not in ("totp", "hotp"):
        raise CoreError("Not an otpauth URI: it must start with otpauth://totp/.")
    params = _params(parts.query)
    counter = None
    if kind == "hotp":
        if "counter" not in params:
            raise CoreError("The otpauth URI is for HOTP and has no counter parameter.")
        counter = _number(params, "counter", 0)
        if counter > MAX_COUNTER:
            raise CoreError(f"The otpauth URI's counter must be at most {MAX_COUNTER}.")
    label_issuer, account = _split_label(parts.path.lstrip("/"))
    issuer = params.get("issuer", label_issuer)
    if label_issuer and issuer != label_issuer:
        raise CoreError(
            f"The otpauth URI's issuer {label_issuer!r} in the label does not match its "
            f"issuer parameter {issuer!r}."
        )
    if "secret" not in params:
        raise CoreError("The otpauth URI has no secret parameter.")
    try:
        secret = base32.decode(params["secret"])
    except CoreError:
        raise CoreError("The otpauth URI's secret is not valid base32.") from None
    key = KeyUri(
        secret,
        account,
        issuer,
        params.get("algorithm", DEFAULT_ALGORITHM).lower(),
        _number(params, "digits", DEFAULT_DIGITS),
        _number(params, "period", DEFAULT_PERIOD_S),
        counter,
    )
    try:
        check_parameters(key.secret, key.algorithm, key.digits, key.period_s)
    except CoreError as exc:
        raise CoreError(f"The otpauth URI is not usable: {exc}") from None
    return key


def _params(query: str) -> dict[str, str]:
    """The parameters this format defines; each may appear once. Others are ignored."""
    parsed = parse_qs(query, keep_blank_values=True)
    params = {}
    for name in _KNOWN:
        values = parsed.get(name, [])
        if len(values) > 1:
            raise CoreError(f"The otpauth URI gives the {name} parameter more than once.")
        if values:
            params[name] = values[0]
    return params


def _split_label(label: str) -> tuple[str, str]:
    """`Issuer:account` -> (issuer, account), split at the first literal colon, else at the
    first encoded one (%3A, which the format also allows); without either, the label is the
    account alone. A colon encoded inside the issuer or account then stays theirs."""
    issuer, colon, account = label.partition(":")
    if not colon:
        issuer, colon, account = label.replace("%3a", "%3A").partition("%3A")
    if not colon:
        issuer, account = "", label
    issuer, account = unquote(issuer), unquote(account).lstrip(" ")
    if not account:
        raise CoreError("The otpauth URI has no account name in its label.")
    return issuer, account


def _number(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise CoreError(f"The otpauth URI's {name} must be a whole number, not {text!r}.")
    return int(text)
