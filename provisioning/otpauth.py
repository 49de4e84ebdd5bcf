"""Profiles to and from otpauth URIs: the Key-URI format itself is core/otpauth.py's; this
module only maps it onto a Profile, whose checks (the token's screen) apply on top."""

from baoling.core import otpauth
from baoling.core.errors import CoreError
from baoling.provisioning.errors import BadProfile, BadSecret, BadURI
from baoling.provisioning.profile import Profile


def parse_uri(uri: str, *, label: str | None = None, issuer: str | None = None) -> Profile:
    """Turn an otpauth://totp/ URI into a Profile; BadURI says what is wrong (never the secret).

    `label` and `issuer` replace the URI's (a long e-mail address, a name the token's font
    cannot show).
    """
    try:
        key = otpauth.parse(uri)
    except CoreError as exc:
        raise BadURI(str(exc)) from None
    try:
        return Profile(
            key.secret,
            key.algorithm,
            key.digits,
            key.period_s,
            key.account if label is None else label,
            key.issuer if issuer is None else issuer,
        )
    except (BadProfile, BadSecret) as exc:
        raise BadURI(f"The otpauth URI is not usable: {exc}") from None


def build_uri(profile: Profile) -> str:
    """The Key-URI for a profile, so a phone app or another server gets the same codes."""
    return otpauth.build(
        otpauth.KeyUri(
            profile.secret,
            profile.label,
            profile.issuer,
            profile.algorithm,
            profile.digits,
            profile.period_s,
        )
    )
