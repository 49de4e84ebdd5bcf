"""The verifier's HTTP API (contracts.md section 10): FastAPI over the Python API.

`create_app` is the one place that lists the routes, the error handlers and the middleware;
the endpoints are plain functions that call `Verifier`. Callers of `/v1/validate` learn only
"accept" or "reject"; administrators see reasons through the admin routes. Nothing here logs
a request body, and error messages never echo what the client sent (a code or a secret could
be in it): validation errors name the field and the rule only.
"""

import hashlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from baoling.verifier import errors
from baoling.verifier.constants import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_DIGITS,
    DEFAULT_PERIOD_S,
    MAX_DIGITS,
    MAX_PERIOD_S,
    MIN_DIGITS,
    MIN_PERIOD_S,
)
from baoling.verifier.engine import MALFORMED
from baoling.verifier.otp import b32decode
from baoling.verifier.service import MAX_TEXT_CHARS, TOKEN_ID, Verifier

# A validate request is about 60 bytes; a PSKC file of a few thousand tokens fits in 1 MiB.
MAX_BODY_BYTES = 1024 * 1024
# 1024 base32 characters are 640 bytes, far past any HMAC key length worth having.
MAX_SECRET_CHARS = 1024
MAX_AUDIT_LIMIT = 10_000
# A key removed from the store still works on a running server for up to this long.
API_KEY_CACHE_S = 60.0
API_KEY_CACHE_ENTRIES = 1024

log = logging.getLogger("baoling.http")

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class HTTPError(Exception):
    """An error answer: HTTP status, a stable snake_case code and a sentence for people."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


# ---------------------------------------------------------------- request and answer bodies

# Every rule below is declared once, as a pydantic constraint: FastAPI publishes it in the
# OpenAPI schema and pydantic enforces it on the request, so a client that follows the schema
# is never refused for its form. Rules the verifier itself applies are derived from the
# service's own (its token id expression, str.isprintable, MAX_TEXT_CHARS), not restated.

# The sentence a client gets when a value misses a pattern: a regular expression is no message.
_PATTERN_RULES: dict[str, str] = {}


def _pattern(regex: str, rule: str) -> str:
    """`regex` as a whole-value JSON Schema pattern (a schema pattern is a search, and `$` means
    end of text in the validators that apply it), remembering `rule` to explain a miss."""
    anchored = f"^(?:{regex})$"
    _PATTERN_RULES[anchored] = rule
    return anchored


def _printable_class() -> str:
    """A character class of exactly the characters `str.isprintable` accepts (the service's
    rule for labels), as ranges of the characters themselves, so that Python, pydantic's
    regex engine and any JSON Schema validator read it alike, whatever their Unicode tables.
    No range end needs escaping: the only ASCII range is " -~", which holds \\, ], ^ and -."""
    ranges: list[list[int]] = []
    for point in range(sys.maxunicode + 1):
        if not chr(point).isprintable():
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


def _base32() -> str:
    """What `b32decode` reads, minus whitespace other than spaces and non-ASCII case forms:
    base32 characters in any case with spaces anywhere, `=` padding at the end, and a count of
    characters whose bits end on a whole byte (2, 4, 5, 7 or 8 in the last group of 8)."""
    char = "(?:[A-Za-z2-7] *)"
    return f" *(?:{char}{{8}})*(?:{char}{{2}}|{char}{{4,5}}|{char}{{7,8}})(?:= *)*"


TOKEN_ID_PATTERN = _pattern(
    TOKEN_ID.pattern,
    "must be 1 to 128 letters, digits and . _ : @ + -, starting with a letter or digit",
)
CODE_PATTERN = _pattern(
    f"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}", f"must be {MIN_DIGITS} to {MAX_DIGITS} digits"
)
SECRET_PATTERN = _pattern(
    _base32(),
    "must be base32 (A-Z and 2-7, any case, spaces allowed, = padding only at the end) "
    "of a length that ends on a whole byte",
)
HEX_PATTERN = _pattern("(?:[0-9A-Fa-f]{2})+", "must be hex, two digits per byte")
PRINTABLE_PATTERN = _pattern(f"[{_printable_class()}]*", "must be printable text")

Code = Annotated[str, Field(pattern=CODE_PATTERN)]
TokenId = Annotated[str, Field(pattern=TOKEN_ID_PATTERN)]
TokenPath = Annotated[str, Path(pattern=TOKEN_ID_PATTERN)]
Text = Annotated[str, Field(pattern=PRINTABLE_PATTERN, max_length=MAX_TEXT_CHARS)]
Secret = Annotated[str, Field(pattern=SECRET_PATTERN, max_length=MAX_SECRET_CHARS)]


class Strict(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ValidateRequest(Strict):
    token: TokenId
    code: Code


class ValidateResult(BaseModel):
    result: Literal["accept", "reject"]


class EnrolRequest(Strict):
    token: TokenId
    secret: Secret | None = Field(default=None, description="base32; omit to have one generated")
    algorithm: Literal[ALGORITHMS] = DEFAULT_ALGORITHM  # type: ignore[valid-type]
    digits: int = Field(default=DEFAULT_DIGITS, ge=MIN_DIGITS, le=MAX_DIGITS)
    period: int = Field(default=DEFAULT_PERIOD_S, ge=MIN_PERIOD_S, le=MAX_PERIOD_S)
    issuer: Text = ""
    label: Text = ""


class EnrolResult(BaseModel):
    token: str
    uri: str | None = Field(
        default=None, description="otpauth URI, only when the secret was generated; shown once"
    )


class PSKCRequest(Strict):
    pskc: str = Field(min_length=1, description="the PSKC XML document")
    key: str | None = Field(default=None, pattern=HEX_PATTERN, description="pre-shared key, hex")
    password: str | None = None


class PSKCResult(BaseModel):
    tokens: list[str]


class ResyncRequest(Strict):
    code1: Code
    code2: Code


class ResyncResult(BaseModel):
    resynced: bool


class TokenList(BaseModel):
    tokens: list[dict[str, Any]]


class AuditList(BaseModel):
    entries: list[dict[str, Any]]


class Health(BaseModel):
    status: Literal["ok"]


class ErrorBody(BaseModel):
    error: str
    message: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route can give."""
    return {status: {"model": ErrorBody} for status in statuses}


# 400: unparsable JSON; 413: body over MAX_BODY_BYTES; 422: well-formed JSON that breaks a rule.
_BODY_ERRORS = (400, 401, 403, 413, 422)
_AUTH_ERRORS = (401, 403, 422)


# ------------------------------------------------------------------------------- dependencies


# The dependencies are async: FastAPI runs sync ones in its thread pool, a hop per request that
# cost validate 0.4 ms of CPU (bench/http_validate.py). They do not block the event loop, but
# for the one database read per key and minute that KeyCache makes.


async def get_verifier(request: Request) -> Verifier:
    return request.app.state.verifier


def require(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that admits a request only with a bearer API key of `scope`."""

    async def check(request: Request) -> None:
        kind, _, key = request.headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not key.strip():
            raise HTTPError(
                401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'."
            )
        if not request.app.state.keys.allows(key.strip(), scope):
            raise HTTPError(403, "forbidden", f"This API key is not valid for the {scope} scope.")

    return check


class KeyCache:
    """Remembers for API_KEY_CACHE_S which keys the store accepted, so a busy client costs one
    database read a minute instead of one per request. Only a SHA-256 of key and scope is
    kept; refused keys are not remembered (they are asked again every time)."""

    def __init__(self, verifier: Verifier, ttl_s: float = API_KEY_CACHE_S) -> None:
        self.verifier, self.ttl_s = verifier, ttl_s
        self.valid_until: dict[bytes, float] = {}

    def allows(self, key: str, scope: str) -> bool:
        digest = hashlib.sha256(f"{scope}\0{key}".encode()).digest()
        now = time.monotonic()
        if self.valid_until.get(digest, 0.0) > now:
            return True
        if not self.verifier.check_api_key(key, scope):
            return False
        if len(self.valid_until) >= API_KEY_CACHE_ENTRIES:
            self.valid_until.clear()
        self.valid_until[digest] = now + self.ttl_s
        return True


ValidateScope = Depends(require("validate"))
AdminScope = Depends(require("admin"))
V = Annotated[Verifier, Depends(get_verifier)]


# ---------------------------------------------------------------------------------- endpoints


def validate(body: ValidateRequest, v: V, request: Request) -> ValidateResult:
    """Check a code a user typed: "accept" or "reject", never why.

    A code of the wrong length for its token is the caller's input error, so it gets a 422
    (it still counts as a failed attempt, as the engine decides).
    """
    decision = v.check(body.token, body.code)
    if decision.reason == MALFORMED:
        raise HTTPError(422, "invalid_request", "code: wrong number of digits for this token")
    result = "accept" if decision.accepted else "reject"
    request.app.state.metrics.validations.labels(result=result).inc()
    return ValidateResult(result=result)


def enrol(body: EnrolRequest, v: V) -> EnrolResult:
    """Enrol a token; the otpauth URI comes back only for a generated secret, only now."""
    secret = None if body.secret is None else b32decode(body.secret)
    uri = v.enrol(
        body.token,
        secret,
        algorithm=body.algorithm,
        digits=body.digits,
        period_s=body.period,
        issuer=body.issuer,
        label=body.label,
    )
    return EnrolResult(token=body.token, uri=uri if secret is None else None)


def import_pskc(body: PSKCRequest, v: V) -> PSKCResult:
    """Import every key of a PSKC (RFC 6030) document, or none."""
    key = None if body.key is None else bytes.fromhex(body.key)
    return PSKCResult(tokens=v.import_pskc(body.pskc.encode(), key=key, password=body.password))


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


def audit(v: V, limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100) -> AuditList:
    return AuditList(entries=list(v.audit(limit=limit)))


def healthz() -> Health:
    return Health(status="ok")


def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# ------------------------------------------------------------------------------------ errors


# Library errors and what a client gets for them (the most specific class wins).
_LIBRARY_ERRORS: dict[type[errors.VerifierError], tuple[int, str]] = {
    errors.UnknownToken: (404, "unknown_token"),
    errors.TokenExists: (409, "token_exists"),
    errors.InvalidRequest: (422, "invalid_request"),
    errors.PSKCImportError: (422, "invalid_pskc"),
    errors.MasterKeyError: (503, "unavailable"),
    errors.StoreError: (503, "unavailable"),
    errors.VerifierError: (400, "bad_request"),
}


def _error_response(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def _on_http_error(request: Request, exc: HTTPError) -> JSONResponse:
    return _error_response(exc.status, exc.error, exc.message)


def _on_verifier_error(request: Request, exc: errors.VerifierError) -> JSONResponse:
    status, error = next(
        answer for kind, answer in _LIBRARY_ERRORS.items() if isinstance(exc, kind)
    )
    return _error_response(status, error, str(exc))


def _on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Name the field and the rule it broke; never echo the value (it may be a code or a
    secret): pydantic's own messages name the rule only, and a missed pattern is said in words."""
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return _error_response(400, "invalid_json", "The request body is not valid JSON.")
    where = ".".join(str(part) for part in first["loc"] if part not in ("body", "path", "query"))
    rule = first["msg"]
    if first["type"] == "string_pattern_mismatch":
        rule = _PATTERN_RULES[first["ctx"]["pattern"]]
    message = f"{where}: {rule}" if where else rule
    return _error_response(422, "invalid_request", message)


def _on_starlette_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    names = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
    error = names.get(exc.status_code, "http_error")
    return _error_response(exc.status_code, error, str(exc.detail))


# -------------------------------------------------------------------------------- middleware


class Metrics:
    """The app's Prometheus series; labels hold route templates and results, never values."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "baoling_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "baoling_http_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.validations = Counter(
            "baoling_validations",
            "Answers of POST /v1/validate.",
            ["result"],
            registry=self.registry,
        )


class LimitBody:
    """Read at most `max_bytes` of a request body, else answer 413 without calling the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit():
            await _send_error(send, 400, "bad_request", "Content-Length is not a number.")
            return
        too_big = f"The request body is larger than {self.max_bytes} bytes."
        if int(declared) > self.max_bytes:
            await _send_error(send, 413, "body_too_large", too_big)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, "body_too_large", too_big)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _send_error(send: Callable, status: int, error: str, message: str) -> None:
    response = _error_response(status, error, message)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class CountRequests:
    """Count and time every answer, and log one line: method, route template, status, time.

    This line replaces uvicorn's access log, which prints the query string.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.seconds.labels(route).observe(elapsed)
            log.info("%s %s %d %.1fms", scope["method"], route, status, elapsed * 1000)


# ------------------------------------------------------------------------------------ wiring


def create_app(verifier: Verifier, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The HTTP API over `verifier`: every route, error handler and middleware, listed here."""
    app = FastAPI(
        title="Baoling verifier",
        version="1",
        description="Checks TOTP codes. See docs/verifier.md.",
    )
    app.state.verifier = verifier
    app.state.keys = KeyCache(verifier)
    app.state.metrics = Metrics()

    route = app.add_api_route
    route(
        "/v1/validate",
        validate,
        methods=["POST"],
        dependencies=[ValidateScope],
        responses=_errors(*_BODY_ERRORS, 404),
        tags=["validate"],
    )
    admin = {"dependencies": [AdminScope], "tags": ["admin"]}
    token_errors = _errors(*_AUTH_ERRORS, 404)
    route(
        "/v1/tokens",
        enrol,
        methods=["POST"],
        status_code=201,
        responses=_errors(*_BODY_ERRORS, 409),
        **admin,
    )
    route("/v1/tokens", list_tokens, methods=["GET"], responses=_errors(401, 403), **admin)
    route("/v1/tokens/{token_id}", show, methods=["GET"], responses=token_errors, **admin)
    route(
        "/v1/tokens/{token_id}",
        delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=token_errors,
        **admin,
    )
    for action in ("disable", "enable", "unlock", "reset_drift"):
        route(
            f"/v1/tokens/{{token_id}}/{action.replace('_', '-')}",
            admin_action(action),
            methods=["POST"],
            responses=token_errors,
            **admin,
        )
    route(
        "/v1/tokens/{token_id}/resync",
        resync,
        methods=["POST"],
        responses=_errors(*_BODY_ERRORS, 404),
        **admin,
    )
    route(
        "/v1/pskc",
        import_pskc,
        methods=["POST"],
        status_code=201,
        responses=_errors(*_BODY_ERRORS, 409),
        **admin,
    )
    route("/v1/audit", audit, methods=["GET"], responses=_errors(*_AUTH_ERRORS), **admin)
    route("/healthz", healthz, methods=["GET"], tags=["service"])
    route(
        "/metrics",
        metrics,
        methods=["GET"],
        response_class=Response,
        tags=["service"],
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )

    app.add_exception_handler(HTTPError, _on_http_error)
    app.add_exception_handler(errors.VerifierError, _on_verifier_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, _on_starlette_error)

    # add_middleware puts the last one outermost: the counter also sees the 413s.
    app.add_middleware(LimitBody, max_bytes=max_body_bytes)
    app.add_middleware(CountRequests, metrics=app.state.metrics)
    return app
