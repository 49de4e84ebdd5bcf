"""The Key-URI format (otpauth://totp/...), in and out.

Reading follows Google Authenticator's Key-Uri-Format: the label is `accountname` or
`issuer:accountname` (URL-encoded, a space allowed after the colon), `secret` is base32 without
padding in any case, `issuer`, `algorithm`, `digits` and `period` are optional, and parameters
it does not define are ignored. What a token cannot do (HOTP, an unknown algorithm, digits or
period out of range, issuers that disagree) is refused with BadURI rather than guessed.
"""

from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from baoling.provisioning.errors import BadProfile, BadSecret, BadURI
from baoling.provisioning.profile import (
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    Profile,
    b32decode,
)

_KNOWN = ("secret", "issuer", "algorithm", "digits", "period")


def parse_uri(uri: str, *, label: str | None = None, issuer: str | None = None) -> Profile:
    """Turn an otpauth://totp/ URI into a Profile; BadURI says what is wrong (never the secret).

    `label` and `issuer` replace the URI's (a long e-mail address, a name the token's font
    cannot show).
    """
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "otpauth":
        raise BadURI("Not an otpauth URI: it must start with otpauth://totp/.")
    kind = parts.netloc.lower()
    if kind == "hotp":
        raise BadURI(
            "The otpauth URI is for HOTP (counter-based codes); a Baoling token shows TOTP only."
        )
    if kind != "totp":
        raise BadURI("Not an otpauth URI: it must start with otpauth://totp/.")
    params = _params(parts.query)
    label_issuer, account = _split_label(unquote(parts.path.lstrip("/")))
    uri_issuer = params.get("issuer", label_issuer)
    if label_issuer and uri_issuer != label_issuer:
        raise BadURI(
            f"The otpauth URI's issuer {label_issuer!r} in the label does not match its "
            f"issuer parameter {uri_issuer!r}."
        )
    if "secret" not in params:
        raise BadURI("The otpauth URI has no secret parameter.")
    try:
        secret = b32decode(params["secret"])
    except BadSecret:
        raise BadURI("The otpauth URI's secret is not valid base32.") from None
    algorithm = params.get("algorithm", DEFAULT_ALGORITHM).lower()
    digits = _number(params, "digits", DEFAULT_DIGITS)
    period_s = _number(params, "period", DEFAULT_PERIOD_S)
    try:
        return Profile(
            secret,
            algorithm,
            digits,
            period_s,
            account if label is None else label,
            uri_issuer if issuer is None else issuer,
        )
    except (BadProfile, BadSecret) as exc:
        raise BadURI(f"The otpauth URI is not usable: {exc}") from None


def build_uri(profile: Profile) -> str:
    """The Key-URI for a profile, so a phone app or another server gets the same codes.

    Every parameter is written even when it is the default: apps that lose a 60-second period
    give wrong codes silently. (pyotp's builder omits defaults and refuses the 10-byte secrets
    many websites still issue, so it is not used here.)
    """
    label = quote(profile.label, safe="@")
    if profile.issuer:
        label = f"{quote(profile.issuer, safe='')}:{label}"
    query = urlencode(
        {
            "secret": profile.secret_b32,
            **({"issuer": profile.issuer} if profile.issuer else {}),
            "algorithm": profile.algorithm.upper(),
            "digits": profile.digits,
            "period": profile.period_s,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def _params(query: str) -> dict[str, str]:
    """The parameters this format defines; each may appear once. Others are ignored."""
    parsed = parse_qs(query, keep_blank_values=True)
    params = {}
    for name in _KNOWN:
        values = parsed.get(name, [])
        if len(values) > 1:
            raise BadURI(f"The otpauth URI gives the {name} parameter more than once.")
        if values:
            params[name] = values[0]
    return params


def _split_label(label: str) -> tuple[str, str]:
    """`Issuer:account` -> (issuer, account); a label without a colon is the account alone."""
    issuer, colon, account = label.partition(":")
    if not colon:
        issuer, account = "", label
    account = account.lstrip(" ")
    if not account:
        raise BadURI("The otpauth URI has no account name in its label.")
    return issuer, account


def _number(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise BadURI(f"The otpauth URI's {name} must be a whole number, not {text!r}.")
    return int(text)
