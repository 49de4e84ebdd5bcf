"""Error answers: every error the API gives is `{"error": <code>, "message": <sentence>}`.

Messages never echo what the client sent (a code or a secret could be in it): validation errors
name the field and the rule only. docs/verifier.md lists the codes.
"""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from baoling.verifier import errors
from baoling.verifier.http.schemas import PATTERN_RULES

log = logging.getLogger("baoling.http")


class HTTPError(Exception):
    """An error answer: HTTP status, a stable snake_case code and a sentence for people."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


# Library errors and what a client gets for them (the most specific class wins).
LIBRARY_ERRORS: dict[type[errors.VerifierError], tuple[int, str]] = {
    errors.UnknownToken: (404, "unknown_token"),
    errors.TokenExists: (409, "token_exists"),
    errors.UnknownUser: (404, "unknown_user"),
    errors.UserExists: (409, "user_exists"),
    errors.AssignmentConflict: (409, "assignment_conflict"),
    errors.LifecycleConflict: (409, "lifecycle_conflict"),
    errors.PossessionNotProven: (422, "possession_not_proven"),
    errors.InvalidRequest: (422, "invalid_request"),
    errors.PSKCImportError: (422, "invalid_pskc"),
    errors.BulkImportError: (422, "invalid_import"),
    errors.MasterKeyError: (503, "unavailable"),
    errors.StoreError: (503, "unavailable"),
    errors.DirectoryError: (503, "unavailable"),
    errors.VerifierError: (400, "bad_request"),
}


def error_response(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


# Starlette calls each handler only with the exception class it was registered for, but types
# the parameter as Exception: the handlers narrow it back.


def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPError)
    return error_response(exc.status, exc.error, exc.message)


def on_verifier_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.VerifierError)
    return library_error(exc)


def library_status(exc: errors.VerifierError) -> tuple[int, str]:
    """The HTTP status and error code a library error is answered with. A 503 is also logged
    with its reason (the store full or read-only, the database or the directory away): the
    request's own log line says only 503, and the operator reads the log, not the answers."""
    status, error = next(answer for kind, answer in LIBRARY_ERRORS.items() if isinstance(exc, kind))
    if status == 503:
        log.warning("unavailable: %s", exc)
    return status, error


def library_error(exc: errors.VerifierError) -> JSONResponse:
    status, error = library_status(exc)
    return error_response(status, error, str(exc))


def on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return invalid_request(exc.errors())


def invalid_request(problems: Sequence[Any]) -> JSONResponse:
    """Name the field and the rule it broke (the first of pydantic's `problems`); never echo
    the value (it may be a code or a secret): pydantic's own messages name the rule only, and
    a missed pattern is said in words."""
    first = problems[0]
    if first["type"] == "json_invalid":
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    where = ".".join(str(part) for part in first["loc"] if part not in ("body", "path", "query"))
    rule = first["msg"]
    if first["type"] == "string_pattern_mismatch":
        rule = PATTERN_RULES[first["ctx"]["pattern"]]
    message = f"{where}: {rule}" if where else rule
    return error_response(422, "invalid_request", message)


def on_starlette_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    names = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
    error = names.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, error, str(exc.detail))
    if exc.status_code == 405:  # RFC 9110 15.5.6: a 405 names the methods the target has
        response.headers["Allow"] = ", ".join(allowed_methods(request))
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route at the request's path. Starlette's own 405 names only the
    first route it matched, and some paths have one route per method (GET and POST
    /v1/tokens)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)
