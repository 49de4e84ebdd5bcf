"""The verifier's HTTP API: FastAPI over the Python API (docs/verifier.md, "HTTP API").

`create_app` (app.py) is the one place that lists the routes, the error handlers and the
middleware; the other modules each hold one job: request and answer bodies (schemas.py), API
key checks (auth.py), the endpoints (endpoints.py), error answers (errors.py), logging, metrics
and the body limit (middleware.py).
"""

from baoling.verifier.http.app import create_app

__all__ = ["create_app"]
