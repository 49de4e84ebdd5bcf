"""Enrolling a token's profile into a Baoling verifier over its HTTP API (docs/verifier.md).

HTTP only: provisioning never imports the verifier. `check` runs before the token is touched
(is the verifier there, does it take the API key, is the token id free?), so the common
mistakes fail before anything changes; `enrol` runs only after the prove step matched.
"""

from dataclasses import dataclass
from urllib.parse import quote

import httpx

from baoling.core.errors import CoreError
from baoling.core.urls import check_api_key, check_http_url, shown_url
from baoling.provisioning.entry import Entry
from baoling.provisioning.errors import EnrolError

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class VerifierClient:
    """A verifier's base URL and an API key with the admin scope."""

    url: str
    api_key: str

    def __post_init__(self) -> None:
        """EnrolError for a URL no HTTP client can use or a key that cannot be an API key:
        found with the other options, before the token is touched."""
        try:
            check_http_url(self.url)
        except CoreError as exc:
            raise EnrolError(f"--verifier: {exc}") from None
        try:
            check_api_key(self.api_key)
        except CoreError as exc:
            raise EnrolError(f"--api-key (or $BAOLING_API_KEY): {exc}") from None

    def _request(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        try:
            return httpx.request(
                method,
                self.url.rstrip("/") + path,
                json=body,
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise EnrolError(
                f"The verifier at {self.shown} is unreachable ({type(exc).__name__}): is it "
                "running, and is the URL right?"
            ) from None

    def _refusal(self, answer: httpx.Response) -> EnrolError:
        if answer.status_code in (401, 403):
            return EnrolError(
                f"The verifier at {self.shown} refused the API key: give a key with the admin "
                "scope (--api-key or BAOLING_API_KEY)."
            )
        try:
            message = answer.json()["message"]
        except (ValueError, KeyError, TypeError):
            message = answer.reason_phrase
        return EnrolError(
            f"The verifier at {self.shown} refused the enrolment: {message} "
            f"(HTTP {answer.status_code})."
        )

    @property
    def shown(self) -> str:
        """The URL as messages give it: without its password (core/urls.py)."""
        return shown_url(self.url)

    @property
    def where(self) -> str:
        return f"the verifier at {self.shown}"

    def check_reachable(self) -> None:
        """Fail now unless the URL answers as a Baoling verifier (`GET /healthz`, no key) and
        takes the API key for the admin scope (`GET /v1/audit?limit=1`, one row)."""
        health = self._request("GET", "/healthz")
        try:
            healthy = health.status_code == 200 and health.json().get("status") == "ok"
        except (ValueError, AttributeError):
            healthy = False
        if not healthy:
            raise EnrolError(
                f"The verifier at {self.shown} does not answer as a Baoling verifier (GET /healthz "
                f"gave HTTP {health.status_code}): is the URL right?"
            )
        answer = self._request("GET", "/v1/audit?limit=1")
        if answer.status_code != 200:
            raise self._refusal(answer)

    def check(self, token_id: str) -> None:
        """Fail now if enrolling `token_id` would fail later for a reason known in advance: the
        verifier is reachable, takes the API key, and does not know the token id yet."""
        self.check_reachable()
        if self.knows(token_id):
            raise EnrolError(
                f"The verifier at {self.shown} already has a token {token_id}: delete it there "
                "first, or write another --slot."
            )

    def knows(self, token_id: str) -> bool:
        """Whether the verifier has a token `token_id` (GET, admin scope)."""
        answer = self._request("GET", f"/v1/tokens/{quote(token_id, safe='')}")
        if answer.status_code not in (200, 404):
            raise self._refusal(answer)
        return answer.status_code == 200

    def register(self, entry: Entry) -> None:
        """POST the profile; the verifier answers 201 when it stored it. `device_pin` is sent
        only when true, so a verifier from before device PINs still takes a token without."""
        profile = entry.profile
        body: dict[str, object] = {
            "token": entry.key_id,
            "secret": profile.secret_b32,
            "algorithm": profile.algorithm,
            "digits": profile.digits,
            "period": profile.period_s,
            "issuer": profile.issuer,
            "label": profile.label,
        }
        if entry.device_pin:
            body["device_pin"] = True
        answer = self._request("POST", "/v1/tokens", body)
        if answer.status_code != 201:
            raise self._refusal(answer)
