"""`create_app`: the one place that lists the routes, the error handlers and the middleware."""

import weakref
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from baoling.verifier import errors
from baoling.verifier.http import endpoints, privacyidea, readiness, validate_route
from baoling.verifier.http.auth import KeyCache, require
from baoling.verifier.http.errors import (
    HTTPError,
    on_http_error,
    on_invalid_request,
    on_starlette_error,
    on_verifier_error,
)
from baoling.verifier.http.middleware import MAX_BODY_BYTES, CountRequests, LimitBody, Metrics
from baoling.verifier.http.schemas import ErrorBody, ValidateResult
from baoling.verifier.http.validate_threads import ValidateThreads
from baoling.verifier.options import (
    DEFAULT_EVENTS_BACKLOG_READY,
    DEFAULT_HTTP_BODY_TIMEOUT_SECONDS,
)
from baoling.verifier.service import Verifier
from baoling.verifier.settings import IPNetwork


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route can give."""
    return {status: {"model": ErrorBody} for status in statuses}


# 400: unparsable JSON; 408: body too slow; 413: body over MAX_BODY_BYTES; 422: well-formed JSON
# that breaks a rule.
_BODY_ERRORS = (400, 401, 403, 408, 413, 422)
_AUTH_ERRORS = (401, 403, 422)


def create_app(
    verifier: Verifier,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_HTTP_BODY_TIMEOUT_SECONDS,
    privacyidea_allow: Sequence[IPNetwork] = (),
    privacyidea_no_detail_on_fail: bool = False,
    trusted_proxies: Sequence[IPNetwork] = (),
    console_session_s: tuple[float, float] | None = None,
    backlog_ready: int = DEFAULT_EVENTS_BACKLOG_READY,
    validate_threads: int = 1,
) -> FastAPI:
    """The HTTP API over `verifier`: every route, error handler and middleware, listed here.
    With `console_session_s` (idle, absolute), the web console is mounted under /ui/.
    `validate_threads` run the token checks of POST /v1/validate (validate_route.py), as
    many as the store has connections (server.py): their commits share flushes."""
    # No /docs or /redoc: they would answer without a key and load their scripts from a CDN;
    # /openapi.json serves the same description to any viewer run locally (docs/verifier.md).
    app = FastAPI(
        title="Baoling verifier",
        version="1",
        description="Checks TOTP codes. See docs/verifier.md.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.verifier = verifier
    app.state.keys = KeyCache(verifier)
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(verifier.validation_counts.counter)
    # /readyz fails while this many events wait for delivery (readiness.py).
    app.state.backlog_ready = backlog_ready
    # Peers whose X-Forwarded-For names the client, for the rate limits (client_address.py).
    app.state.trusted_proxies = tuple(trusted_proxies)
    app.state.validations = ValidateThreads(validate_threads)
    weakref.finalize(app, app.state.validations.shutdown)

    route = app.add_api_route
    admin_scope = [Depends(require("admin"))]
    admin: dict[str, Any] = {"dependencies": admin_scope, "tags": ["admin"]}
    # Helpdesk routes take helpdesk and admin keys (verifier/api_keys.py).
    helpdesk_scope = [Depends(require("helpdesk", "admin"))]
    helpdesk: dict[str, Any] = {"dependencies": helpdesk_scope, "tags": ["helpdesk"]}
    token_errors = _errors(*_AUTH_ERRORS, 404)
    route(
        validate_route.PATH,
        validate_route.validate,
        methods=["POST"],
        response_model=ValidateResult,
        response_model_exclude_none=True,  # a reject is {"result": "reject"} only
        openapi_extra=validate_route.OPENAPI_BODY,
        responses=_errors(*_BODY_ERRORS, 404),
        tags=["validate"],
    )
    validate = app.router.routes[-1]  # POST /v1/validate's route, for ValidateFirst below
    route(
        "/v1/tokens",
        endpoints.enrol,
        methods=["POST"],
        status_code=201,
        responses=_errors(*_BODY_ERRORS, 409),
        **admin,
    )
    route(
        "/v1/tokens",
        endpoints.list_tokens,
        methods=["GET"],
        responses=_errors(401, 403),
        **helpdesk,
    )
    route(
        "/v1/tokens/{token_id}", endpoints.show, methods=["GET"], responses=token_errors, **helpdesk
    )
    route(
        "/v1/tokens/{token_id}",
        endpoints.delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=token_errors,
        **admin,
    )
    for action, scope, refusals in (
        ("disable", helpdesk, token_errors),
        ("enable", helpdesk, _errors(*_AUTH_ERRORS, 404, 409)),  # 409: reported lost
        ("unlock", helpdesk, token_errors),
        ("reset_drift", admin, token_errors),
    ):
        route(
            f"/v1/tokens/{{token_id}}/{action.replace('_', '-')}",
            endpoints.admin_action(action),
            methods=["POST"],
            responses=refusals,
            **scope,
        )
    for action in ("report_lost", "token_found", "activate_spare"):
        route(
            f"/v1/tokens/{{token_id}}/{endpoints.LIFECYCLE_PATHS[action]}",
            endpoints.lifecycle_action(action),
            methods=["POST"],
            responses=_errors(*_AUTH_ERRORS, 404, 409),
            **helpdesk,
        )
    route(
        "/v1/tokens/{token_id}/resync",
        endpoints.resync,
        methods=["POST"],
        responses=_errors(*_BODY_ERRORS, 404),
        **helpdesk,  # two codes from the token: possession, no secret read
    )
    route(
        "/v1/pskc",
        endpoints.import_pskc,
        methods=["POST"],
        status_code=201,
        responses=_errors(*_BODY_ERRORS, 409),
        **admin,
    )
    route(
        "/v1/users/refresh",
        endpoints.refresh_users,
        methods=["POST"],
        responses=_errors(*_BODY_ERRORS, 404, 503),
        **admin,
    )
    route(
        "/v1/import",
        endpoints.import_tokens,
        methods=["POST"],
        responses=_errors(*_BODY_ERRORS, 503),
        **admin,
    )
    user_errors = _errors(*_BODY_ERRORS, 404)
    route(
        "/v1/users",
        endpoints.add_user,
        methods=["POST"],
        status_code=201,
        responses=_errors(*_BODY_ERRORS, 409),
        **admin,
    )
    route(
        "/v1/users", endpoints.list_users, methods=["GET"], responses=_errors(401, 403), **helpdesk
    )
    route(
        "/v1/users/show",
        endpoints.show_user,
        methods=["GET"],
        responses=_errors(*_AUTH_ERRORS, 404),
        **helpdesk,
    )
    route(
        "/v1/users/reactivate",
        endpoints.reactivate_user,
        methods=["POST"],
        responses=_errors(*_BODY_ERRORS, 404, 409, 503),
        **helpdesk,
    )
    route(
        "/v1/users/backup-codes",
        endpoints.issue_backup_codes,
        methods=["POST"],
        status_code=201,
        responses=_errors(*_BODY_ERRORS, 404, 409),
        **helpdesk,
    )
    route(
        "/v1/users/backup-codes/revoke",
        endpoints.revoke_backup_codes,
        methods=["POST"],
        responses=user_errors,
        **helpdesk,
    )
    route(
        "/v1/users/deactivate",
        endpoints.deactivate_user,
        methods=["POST"],
        responses=user_errors,
        **admin,
    )
    route(
        "/v1/users/notify-accepted",
        endpoints.set_notify_accepted,
        methods=["POST"],
        responses=user_errors,
        **helpdesk,
    )
    route(
        "/v1/users/login-rounds",
        endpoints.set_login_rounds,
        methods=["POST"],
        responses=user_errors,
        **admin,
    )
    route(
        "/v1/users/set-pin",
        endpoints.set_user_pin,
        methods=["POST"],
        status_code=204,
        response_class=Response,
        responses=user_errors,
        **helpdesk,
    )
    route(
        "/v1/users/clear-pin",
        endpoints.clear_user_pin,
        methods=["POST"],
        responses=user_errors,
        **helpdesk,
    )
    route(
        "/v1/tokens/{token_id}/assign",
        endpoints.assign,
        methods=["POST"],
        responses=_errors(*_BODY_ERRORS, 404, 409),
        **helpdesk,
    )
    route(
        "/v1/tokens/{token_id}/unassign",
        endpoints.unassign,
        methods=["POST"],
        status_code=204,
        response_class=Response,
        responses=_errors(*_AUTH_ERRORS, 404, 409),
        **helpdesk,
    )
    route("/v1/audit", endpoints.audit, methods=["GET"], responses=_errors(*_AUTH_ERRORS), **admin)
    # /validate/check, /validate/radiuscheck
    privacyidea.add_routes(
        app, allow=privacyidea_allow, no_detail_on_fail=privacyidea_no_detail_on_fail
    )
    if console_session_s is not None:  # the web console (docs/console.md), not in OpenAPI
        from baoling.verifier.console.app import PREFIX, create_console

        idle_s, max_s = console_session_s
        console = create_console(
            verifier, idle_s=idle_s, max_s=max_s, trusted_proxies=trusted_proxies
        )
        app.mount(PREFIX, console)
    route("/healthz", endpoints.healthz, methods=["GET"], tags=["service"])
    route(
        "/readyz",
        readiness.readyz,
        methods=["GET"],
        response_model=readiness.Readiness,
        responses={503: {"model": readiness.Readiness}},
        tags=["service"],
    )
    route(
        "/metrics",
        endpoints.metrics,
        methods=["GET"],
        response_class=Response,
        tags=["service"],
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )

    app.add_exception_handler(HTTPError, on_http_error)
    app.add_exception_handler(errors.VerifierError, on_verifier_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_starlette_error)

    # add_middleware puts the last one outermost: the counter also sees the 413s.
    app.add_middleware(LimitBody, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.add_middleware(CountRequests, metrics=app.state.metrics)
    # POST /v1/validate skips FastAPI's stack, through the same two middlewares (validate_route.py);
    # everything else, that route's 405 included, goes on to FastAPI.
    app.middleware_stack = validate_route.ValidateFirst(
        app.build_middleware_stack(),
        validate,
        around=lambda inner: CountRequests(
            LimitBody(inner, max_bytes=max_body_bytes, timeout_s=body_timeout_s),
            metrics=app.state.metrics,
        ),
    )
    return app
