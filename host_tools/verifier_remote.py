"""The helpdesk's commands through a running verifier (`baoling verifier --server URL`, the API
key in $BAOLING_API_KEY; docs/users.md, "The helpdesk").

Run against the store, a command can do everything: whoever reads the store and its master key
is an administrator. Run with --server, the same commands become HTTP requests made with the
caller's API key, so the server checks the key's scope for each one (a `helpdesk` key is
refused deleting, enrolling, importing, exporting and reading a secret or a URI) and names the
key in the audit trail. The commands that need the store itself are not offered this way.
"""

from datetime import date
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from baoling.core.errors import CoreError
from baoling.core.urls import check_api_key, check_http_url, shown_url
from baoling.verifier import errors
from baoling.verifier.backup_codes import DEFAULT_BACKUP_CODES
from baoling.verifier.http.errors import LIBRARY_ERRORS

TIMEOUT_S = 30.0

# The library error of each HTTP error code that names exactly one (`unavailable` names several:
# its message says which).
_CODES: dict[str, list[type[errors.VerifierError]]] = {}
for _kind, (_, _code) in LIBRARY_ERRORS.items():
    _CODES.setdefault(_code, []).append(_kind)
ERROR_CLASSES = {code: kinds[0] for code, kinds in _CODES.items() if len(kinds) == 1}


class RemoteError(errors.VerifierError):
    """The verifier server given with --server could not be reached, or refused the API key
    or the request (an error that is not the library's own, such as `forbidden`)."""


class Helpdesk(Protocol):
    """What the helpdesk's commands call: a Verifier on the store, or a RemoteVerifier."""

    def list_tokens(self) -> list[dict[str, Any]]: ...
    def show(self, token_id: str) -> dict[str, Any]: ...
    def disable(self, token_id: str) -> None: ...
    def enable(self, token_id: str) -> None: ...
    def unlock(self, token_id: str) -> None: ...
    def resync(self, token_id: str, code1: str, code2: str) -> bool: ...
    def list_users(self) -> list[dict[str, Any]]: ...
    def show_user(self, user: str) -> dict[str, Any]: ...
    def set_notify_accepted(self, user: str, on: bool) -> dict[str, Any]: ...
    def assign(
        self,
        token_id: str,
        user: str,
        role: str = ...,
        *,
        code: str | None = ...,
        override: bool = ...,
    ) -> dict[str, Any]: ...
    def unassign(self, token_id: str) -> None: ...
    def report_lost(self, token_id: str) -> dict[str, Any]: ...
    def token_found(self, token_id: str) -> dict[str, Any]: ...
    def activate_spare(self, token_id: str) -> dict[str, Any]: ...
    def issue_backup_codes(
        self, user: str, expires: date, count: int = ...
    ) -> tuple[list[str], float]: ...
    def revoke_backup_codes(self, user: str) -> int: ...
    def reactivate_user(self, user: str, *, keep_tokens: bool = ...) -> dict[str, Any]: ...
    def set_user_pin(self, user: str, pin: str) -> None: ...
    def clear_user_pin(self, user: str) -> bool: ...


class RemoteVerifier:
    """The Helpdesk operations as requests to a verifier server with one API key."""

    def __init__(self, url: str, api_key: str) -> None:
        """RemoteError when `url` is no http(s) URL or `api_key` cannot be a key, before any
        request is made (httpx would fail on a key that is not ASCII)."""
        try:
            self.url = check_http_url(url).rstrip("/")
        except CoreError as exc:
            raise RemoteError(f"--server (or $BAOLING_VERIFIER_URL): {exc}") from None
        try:
            check_api_key(api_key)
        except CoreError as exc:
            raise RemoteError(f"$BAOLING_API_KEY: {exc}") from None
        self.shown = shown_url(self.url)  # as messages give it: without its password
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=TIMEOUT_S,
        )

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The answer's JSON (None for 204); an error answer raised as the library error of
        its code, or RemoteError."""
        try:
            answer = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"the verifier at {self.shown} is unreachable ({type(exc).__name__}): is it "
                "running, and is the URL right?"
            ) from None
        if answer.status_code == 204:
            return None
        try:
            content = answer.json()
        except ValueError:
            content = None
        if answer.is_success and content is not None:
            return content
        code = content.get("error") if isinstance(content, dict) else None
        message = content.get("message") if isinstance(content, dict) else None
        if not isinstance(message, str):
            message = answer.reason_phrase
        if code in ERROR_CLASSES:
            raise ERROR_CLASSES[code](message)
        raise RemoteError(
            f"the verifier at {self.shown} refused {method} {path}: {message} "
            f"(HTTP {answer.status_code})"
        )

    @staticmethod
    def _token(token_id: str, action: str = "") -> str:
        path = f"/v1/tokens/{quote(token_id, safe='')}"
        return f"{path}/{action}" if action else path

    def list_tokens(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self._call("GET", "/v1/tokens")["tokens"]
        return tokens

    def show(self, token_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self._call("GET", self._token(token_id))
        return info

    def disable(self, token_id: str) -> None:
        self._call("POST", self._token(token_id, "disable"))

    def enable(self, token_id: str) -> None:
        self._call("POST", self._token(token_id, "enable"))

    def unlock(self, token_id: str) -> None:
        self._call("POST", self._token(token_id, "unlock"))

    def resync(self, token_id: str, code1: str, code2: str) -> bool:
        body = {"code1": code1, "code2": code2}
        return bool(self._call("POST", self._token(token_id, "resync"), body)["resynced"])

    def list_users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self._call("GET", "/v1/users")["users"]
        return users

    def show_user(self, user: str) -> dict[str, Any]:
        info: dict[str, Any] = self._call("GET", "/v1/users/show", params={"user": user})
        return info

    def set_notify_accepted(self, user: str, on: bool) -> dict[str, Any]:
        info: dict[str, Any] = self._call(
            "POST", "/v1/users/notify-accepted", {"user": user, "on": on}
        )
        return info

    def assign(
        self,
        token_id: str,
        user: str,
        role: str = "primary",
        *,
        code: str | None = None,
        override: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"user": user, "role": role, "override": override}
        if code is not None:
            body["code"] = code
        info: dict[str, Any] = self._call("POST", self._token(token_id, "assign"), body)
        return info

    def unassign(self, token_id: str) -> None:
        self._call("POST", self._token(token_id, "unassign"))

    def report_lost(self, token_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", self._token(token_id, "lost"))
        return answer

    def token_found(self, token_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", self._token(token_id, "found"))
        return answer

    def activate_spare(self, token_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", self._token(token_id, "activate-spare"))
        return answer

    def issue_backup_codes(
        self, user: str, expires: date, count: int = DEFAULT_BACKUP_CODES
    ) -> tuple[list[str], float]:
        body = {"user": user, "expires": expires.isoformat(), "count": count}
        answer = self._call("POST", "/v1/users/backup-codes", body)
        return list(answer["codes"]), float(answer["expires"])

    def revoke_backup_codes(self, user: str) -> int:
        return int(self._call("POST", "/v1/users/backup-codes/revoke", {"user": user})["revoked"])

    def reactivate_user(self, user: str, *, keep_tokens: bool = False) -> dict[str, Any]:
        body = {"user": user, "keep_tokens": keep_tokens}
        answer: dict[str, Any] = self._call("POST", "/v1/users/reactivate", body)
        return answer

    def set_user_pin(self, user: str, pin: str) -> None:
        self._call("POST", "/v1/users/set-pin", {"user": user, "pin": pin})

    def clear_user_pin(self, user: str) -> bool:
        return bool(self._call("POST", "/v1/users/clear-pin", {"user": user})["cleared"])
