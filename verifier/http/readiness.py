"""GET /readyz (docs/operations.md, "Readiness, metrics and logs"): whether this node should get
traffic. 200 when the store answers, its schema is the one this code needs, and fewer than
events_backlog_ready events wait for delivery; else 503 with what failed. /healthz only says
the process answers."""

from typing import Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    # Each check: "ok", or what is wrong (never a secret: the store URL's password is hidden).
    checks: dict[str, str]


def readyz(request: Request) -> JSONResponse:
    checks = request.app.state.verifier.readiness(request.app.state.backlog_ready)
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
