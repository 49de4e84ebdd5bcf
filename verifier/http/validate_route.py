"""POST /v1/validate, the route every login goes through, answered ahead of FastAPI's stack.

A validation is most of what a verifier serves, and FastAPI's layers cost it more than the
check: its middleware stack, routing, dependency solving, body field and response model were
about half of a validation's event-loop time in a profile (docs/performance.md, "A lean
validate route and httptools"). `ValidateFirst` hands POST /v1/validate to `validate` through
only the two middlewares every answer needs (the body limits and the request log and
counters, middleware.py); anything else goes on to FastAPI. The route is still declared to FastAPI
(app.py), for the OpenAPI description and the `Allow` header of its 405, with `validate` as
its endpoint: the same function answers wherever the request comes from.

`validate` takes what FastAPI would take from the declaration, by the same rules: a bearer key
of the validate scope (auth.py `admit`), a JSON body (by its Content-Type, as FastAPI's strict
content type) checked by `ValidateRequest`, and answers errors as the app's handlers do
(errors.py).
"""

import json
from collections.abc import Callable

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from baoling.verifier.doors import HTTP, through
from baoling.verifier.engine import MALFORMED, Decision, UserDecision
from baoling.verifier.errors import VerifierError
from baoling.verifier.http.auth import admit
from baoling.verifier.http.client_address import client_address
from baoling.verifier.http.errors import (
    HTTPError,
    error_response,
    invalid_request,
    library_error,
)
from baoling.verifier.http.schemas import ValidateRequest
from baoling.verifier.http.validate_threads import ValidateThreads
from baoling.verifier.service import Verifier

PATH = "/v1/validate"


async def validate(request: Request) -> Response:
    """Check a code a user typed, for a token or for a user: "accept" or "reject", never why.

    A code of the wrong length for its token is the caller's input error, so it gets a 422
    (it still counts as a failed attempt, as the engine decides). Given with a user name it
    is only a reject: the user's tokens may differ in length, and the caller must not learn
    which lengths a user's tokens have.

    The check waits for its commit's flush, so it runs in the app's own validate threads
    (`app.state.validations`, validate_threads.py, cheaper than anyio's pool), never on the
    event loop. A check by user name may search a directory or check a slow hash, so it goes
    to the shared pool.
    """
    try:
        api_key = await admit(request, ("validate",))
        payload = await _json(request)
        if payload is NO_BODY:  # FastAPI's answer for a required body that is missing
            return invalid_request([{"type": "missing", "loc": (), "msg": "Field required"}])
        body = ValidateRequest.model_validate(payload)
        v: Verifier = request.app.state.verifier
        source = client_address(request)
        # The door, its key's name and the client's address, for the validations counter and
        # validation.accepted (verifier/doors.py); both pools see them.
        with through(HTTP, api_key.name, source):
            if body.user is not None:
                decision: Decision | UserDecision = await run_in_threadpool(
                    v.check_user, body.user, body.code, source=source
                )
            else:
                assert body.token is not None  # ValidateRequest holds exactly one of the two
                validations: ValidateThreads = request.app.state.validations
                decision = await validations.run(v.check, body.token, body.code)
    except ValidationError as exc:
        return invalid_request(exc.errors())
    except HTTPError as exc:
        return error_response(exc.status, exc.error, exc.message)
    except VerifierError as exc:
        return library_error(exc)
    if decision.accepted:  # the body ValidateResult describes (app.py)
        return JSONResponse({"result": "accept", "amr": list(decision.amr)})
    if decision.reason == MALFORMED and body.user is None:
        return error_response(422, "invalid_request", "code: wrong number of digits for this token")
    return JSONResponse({"result": "reject"})


# What `_json` gives for an empty body.
NO_BODY = object()


async def _json(request: Request) -> object:
    """The body as JSON, read by FastAPI's rules for a JSON body: JSON only with a JSON
    Content-Type (anything else is left as bytes, which the model refuses); unparsable JSON is
    a 400; NO_BODY when there is none."""
    raw = await request.body()
    if not raw:
        return NO_BODY
    kind, _, subtype = request.headers.get("content-type", "").partition(";")[0].partition("/")
    subtype = subtype.strip().lower()
    if kind.strip().lower() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise HTTPError(400, "invalid_json", "The request body is not valid JSON.") from None
    except (ValueError, RecursionError):  # not UTF-8, or nested too deeply
        raise HTTPError(400, "bad_request", "There was an error parsing the body") from None


class ValidateFirst:
    """ASGI: POST /v1/validate to `validate` inside `around` (the body limits and the request
    log, app.py), anything else to `app` (FastAPI's stack). `route` is the route FastAPI has
    for it: the request log's and counters' label once the body is read, as FastAPI's routing
    sets it."""

    def __init__(
        self, app: ASGIApp, route: BaseRoute, around: Callable[[ASGIApp], ASGIApp]
    ) -> None:
        self.app, self.route, self.lean = app, route, around(self._answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await self.lean(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        response = await validate(Request(scope, receive))
        await response(scope, receive, send)


# The request body's description, as FastAPI would give it for a `ValidateRequest` parameter.
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ValidateRequest.model_json_schema()}},
    }
}
