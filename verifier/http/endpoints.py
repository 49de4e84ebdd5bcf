"""The endpoints but validate's (validate_route.py): plain functions that call `Verifier`
(app.state.verifier).

Callers of `/v1/validate` learn only "accept" or "reject"; administrators see reasons through
these admin routes. The routes, their scopes and their documented errors are listed in app.py.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from baoling.core import base32
from baoling.verifier.api_keys import ApiKey
from baoling.verifier.constants import MAX_AUDIT_LIMIT
from baoling.verifier.http.errors import HTTPError
from baoling.verifier.http.schemas import (
    AssignRequest,
    AuditList,
    BackupCodesRequest,
    BackupCodesResult,
    BackupCodesRevoked,
    EnrolRequest,
    EnrolResult,
    Health,
    ImportRequest,
    ImportResult,
    LoginRoundsRequest,
    NotifyRequest,
    PinCleared,
    PinRequest,
    PSKCRequest,
    PSKCResult,
    ReactivateRequest,
    ReactivateResult,
    RefreshList,
    RefreshRequest,
    ResyncRequest,
    ResyncResult,
    TokenList,
    TokenPath,
    UserInfo,
    UserList,
    UserNameRequest,
    UserQuery,
    UserRequest,
)
from baoling.verifier.service import Verifier


async def get_verifier(request: Request) -> Verifier:
    """Async so FastAPI does not hop to its thread pool for it (see auth.py)."""
    verifier: Verifier = request.app.state.verifier
    return verifier


V = Annotated[Verifier, Depends(get_verifier)]


def enrol(body: EnrolRequest, v: V) -> EnrolResult:
    """Enrol a token; the otpauth URI comes back only for a generated secret, only now."""
    secret = None if body.secret is None else base32.decode(body.secret)
    uri = v.enrol(
        body.token,
        secret,
        algorithm=body.algorithm,
        digits=body.digits,
        period_s=body.period,
        issuer=body.issuer,
        label=body.label,
        kind=body.kind,
        counter=body.counter,
        device_pin=body.device_pin,
    )
    return EnrolResult(token=body.token, uri=uri if secret is None else None)


def import_pskc(body: PSKCRequest, v: V) -> PSKCResult:
    """Import every key of a PSKC (RFC 6030) document, or none."""
    key = None if body.key is None else bytes.fromhex(body.key)
    return PSKCResult(tokens=v.import_pskc(body.pskc.encode(), key=key, password=body.password))


def import_tokens(body: ImportRequest, v: V) -> ImportResult:
    """Import tokens with their users, all or none; a dry run changes nothing."""
    result = v.import_tokens(
        body.data.encode(),
        file_format=body.format,
        user_map=None if body.user_map is None else body.user_map.encode(),
        key=None if body.key is None else bytes.fromhex(body.key),
        password=body.password,
        dry_run=body.dry_run,
    )
    return ImportResult(**result)


def refresh_users(body: RefreshRequest, v: V) -> RefreshList:
    """Copy directory users' attributes from their directory again (docs/users.md)."""
    return RefreshList(users=v.refresh_users(body.user))


def list_tokens(v: V) -> TokenList:
    return TokenList(tokens=list(v.list_tokens()))


def show(token_id: TokenPath, v: V) -> dict[str, Any]:
    """A token's settings and state, without its secret."""
    return v.show(token_id)


def delete(token_id: TokenPath, v: V) -> Response:
    v.delete(token_id)
    return Response(status_code=204)


def admin_action(action: str) -> Callable[[str, Verifier], dict[str, Any]]:
    """The endpoint for `POST /v1/tokens/{id}/<action>`: Verifier.<action>, then the token."""

    def endpoint(token_id: TokenPath, v: V) -> dict[str, Any]:
        getattr(v, action)(token_id)
        return v.show(token_id)

    endpoint.__name__ = action  # FastAPI names the OpenAPI operation after the function
    return endpoint


def resync(token_id: TokenPath, body: ResyncRequest, v: V) -> ResyncResult:
    """Find two consecutive codes in the wide window and move the token's offset there."""
    return ResyncResult(resynced=v.resync(token_id, body.code1, body.code2))


def add_user(body: UserRequest, v: V) -> UserInfo:
    """Add a local user."""
    return UserInfo(
        **v.add_user(body.user, display_name=body.display_name, email=body.email, phone=body.phone)
    )


def list_users(v: V) -> UserList:
    return UserList(users=[UserInfo(**info) for info in v.list_users()])


def show_user(user: UserQuery, v: V) -> UserInfo:
    """A user's attributes, state and tokens."""
    return UserInfo(**v.show_user(user))


def deactivate_user(body: UserNameRequest, v: V) -> UserInfo:
    """Refuse every code for the user from now on; its tokens stay assigned."""
    return UserInfo(**v.deactivate_user(body.user))


def set_notify_accepted(body: NotifyRequest, v: V) -> UserInfo:
    """Tell the user of every accepted code of their tokens (validation.accepted), or stop."""
    return UserInfo(**v.set_notify_accepted(body.user, body.on))


def set_login_rounds(body: LoginRoundsRequest, v: V) -> UserInfo:
    """How the user logs in at RADIUS: as its client says, in one round, or in two."""
    return UserInfo(**v.set_login_rounds(body.user, body.rounds))


def set_user_pin(body: PinRequest, v: V) -> Response:
    """Give the user a static PIN, replacing one it had (docs/users.md, "PINs")."""
    v.set_user_pin(body.user, body.pin)
    return Response(status_code=204)


def clear_user_pin(body: UserNameRequest, v: V) -> PinCleared:
    """Take the user's PIN away."""
    return PinCleared(cleared=v.clear_user_pin(body.user))


def assign(token_id: TokenPath, body: AssignRequest, v: V, request: Request) -> UserInfo:
    """Give the token to the user on proof of possession (a code from it), or with an admin
    key's override; answers the user with its tokens."""
    key: ApiKey = request.state.api_key
    if body.override and "admin" not in key.scopes:
        v.record_forbidden(key, request.method, "/v1/tokens/{token_id}/assign", "admin")
        raise HTTPError(403, "forbidden", "Only an admin key may assign without a code.")
    info = v.assign(token_id, body.user, body.role, code=body.code, override=body.override)
    return UserInfo(**info)


# The path of each token lifecycle step (POST /v1/tokens/{id}/<path>).
LIFECYCLE_PATHS = {
    "report_lost": "lost",
    "token_found": "found",
    "activate_spare": "activate-spare",
}


def lifecycle_action(action: str) -> Callable[[str, Verifier], dict[str, Any]]:
    """The endpoint for a token's lifecycle step: Verifier.<action>(token), its answer."""

    def endpoint(token_id: TokenPath, v: V) -> dict[str, Any]:
        answer: dict[str, Any] = getattr(v, action)(token_id)
        return answer

    endpoint.__name__ = action
    return endpoint


def reactivate_user(body: ReactivateRequest, v: V) -> ReactivateResult:
    """Let a deactivated user validate again; its tokens go unless kept explicitly."""
    return ReactivateResult(**v.reactivate_user(body.user, keep_tokens=body.keep_tokens))


def issue_backup_codes(body: BackupCodesRequest, v: V) -> BackupCodesResult:
    """One-time backup codes for a user whose token is lost: in this answer only."""
    codes, expires = v.issue_backup_codes(body.user, body.expires, body.count)
    return BackupCodesResult(user=str(v.show_user(body.user)["user"]), codes=codes, expires=expires)


def revoke_backup_codes(body: UserNameRequest, v: V) -> BackupCodesRevoked:
    return BackupCodesRevoked(revoked=v.revoke_backup_codes(body.user))


def unassign(token_id: TokenPath, v: V) -> Response:
    v.unassign(token_id)
    return Response(status_code=204)


def audit(v: V, limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100) -> AuditList:
    return AuditList(entries=list(v.audit(limit=limit)))


async def healthz() -> Health:
    """Liveness: answered on the event loop, without the thread pool that plain `def`
    endpoints go through (a load balancer asks often, and the answer needs no I/O)."""
    return Health(status="ok")


def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
