"""schemathesis against the published OpenAPI spec: generated requests never get a 5xx, every
answer matches what the spec documents (status, content type, body schema), data the spec
calls valid is accepted unless the refusal is one the spec cannot express, and data it calls
invalid gets a 4xx error listed in docs/verifier.md."""

import base64
import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from baoling.verifier.http import create_app
from baoling.verifier.service import Verifier

# Modest: each test runs every operation (about 3 minutes on two cores at load 7).
EXAMPLES_PER_OPERATION = 30

# Statuses that "schema-valid data is accepted" (positive_data_acceptance) allows besides 2xx.
# Every request carries a key with both scopes, so 401 and 403 are not among them.
CONFIG = SchemathesisConfig.from_str("""
[checks.positive_data_acceptance]
expected-statuses = [
    "2xx",
    "404",  # a well-formed token id that is not enrolled (unknown_token)
    "409",  # enrolling an id that an earlier generated request enrolled (token_exists)
]

[[operations]]
include-name = "POST /v1/validate"
# A code of 6 to 8 digits whose length is not the token's own (REFUSED_BY_DESIGN).
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

[[operations]]
include-name = ["POST /v1/users", "GET /v1/users/show", "POST /v1/users/deactivate"]
# A user name of more than 256 bytes in UTF-8 within 256 characters (REFUSED_BY_DESIGN).
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

[[operations]]
include-name = "POST /v1/tokens/{token_id}/assign"
# Without a code from the token, or with one it refuses (REFUSED_BY_DESIGN).
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

[[operations]]
include-name = "POST /v1/tokens/{token_id}/activate-spare"
# A token that is not a user's spare (lifecycle_conflict).
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409"]

[[operations]]
include-name = ["POST /v1/users/backup-codes", "POST /v1/users/reactivate"]
# A last day in the past or too far ahead (REFUSED_BY_DESIGN); a deactivated or active user.
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

[[operations]]
include-name = "POST /v1/users/backup-codes/revoke"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

[[operations]]
include-name = "POST /v1/import"
# No schema says what a file of tokens holds, or which key opens a PSKC file (REFUSED_BY_DESIGN).
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-name = "POST /v1/users/refresh"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

[[operations]]
include-name = "POST /v1/pskc"
# No schema says what a readable PSKC document is, or which key opens it (REFUSED_BY_DESIGN).
checks.positive_data_acceptance.expected-statuses = ["2xx", "409", "422"]
""")

# The only 422 answers to schema-valid data: each says what JSON Schema cannot (a code's length
# for its token; a user name's length in UTF-8 bytes, where the schema counts characters; that
# an e-mail is one address).
USER_BYTES = {"error": "invalid_request", "message": "user must be at most 256 bytes in UTF-8"}
REFUSED_BY_DESIGN = {
    "POST /v1/validate": lambda body: (
        body
        in (
            {"error": "invalid_request", "message": "code: wrong number of digits for this token"},
            USER_BYTES,
        )
    ),
    "POST /v1/pskc": lambda body: body["error"] == "invalid_pskc",
    "POST /v1/import": lambda body: body["error"] in ("invalid_import", "invalid_pskc"),
    "POST /v1/users/refresh": lambda body: body == USER_BYTES,
    "POST /v1/users": lambda body: (
        body == USER_BYTES or body["message"].endswith("is not one e-mail address")
    ),
    "GET /v1/users/show": lambda body: body == USER_BYTES,
    "POST /v1/users/deactivate": lambda body: body == USER_BYTES,
    "POST /v1/users/notify-accepted": lambda body: body == USER_BYTES,
    "POST /v1/users/login-rounds": lambda body: body == USER_BYTES,
    "POST /v1/tokens/{token_id}/assign": lambda body: (
        body == USER_BYTES
        or body["error"] == "possession_not_proven"
        or body["message"] == "give a code from the token or the override, not both"
    ),
    "POST /v1/users/backup-codes": lambda body: (
        body == USER_BYTES or body["message"].startswith("expires must be")
    ),
    "POST /v1/users/reactivate": lambda body: body == USER_BYTES,
    "POST /v1/users/backup-codes/revoke": lambda body: body == USER_BYTES,
}


def documented_errors() -> set[tuple[int, str]]:
    """(status, error) pairs of the Errors table in docs/verifier.md."""
    text = (Path(__file__).parent.parent / "docs" / "verifier.md").read_text()
    table = text.split("### Errors", 1)[1].split("\n\n## ", 1)[0]
    return {
        (int(status), code)
        for status, codes in re.findall(r"^\| (\d{3}) \| ([^|]*) \|", table, re.MULTILINE)
        for code in re.findall(r"`(\w+)`", codes)
    }


@pytest.fixture
def api(tmp_path) -> tuple[schemathesis.schemas.BaseSchema, dict[str, str]]:
    """The spec of an app over a verifier with one token, and a key for every scope."""
    verifier = Verifier(data_dir=tmp_path)
    verifier.enrol("alice", base64.b32decode("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
    key = verifier.create_api_key("schemathesis", ["validate", "admin"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(verifier), config=CONFIG)
    return schema, {"Authorization": f"Bearer {key}"}


@pytest.mark.timeout(900)  # 33 operations in one test; slow hashes (PINs) among them
def test_generated_requests_get_documented_answers_and_no_5xx(api):
    schema, auth = api
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 33
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=auth)
            if response.status_code == 422:
                assert REFUSED_BY_DESIGN[case.operation.label](response.json()), response.text

        check()


@pytest.mark.timeout(900)  # 33 operations in one test; slow hashes (PINs) among them
def test_invalid_requests_get_a_documented_4xx_json_error(api):
    """negative_data_rejection (on by default) asks for a 4xx; the body must be the error shape
    with an error code from docs/verifier.md's table."""
    schema, auth = api
    documented = documented_errors()
    operations = [result.ok() for result in schema.get_all_operations()]
    # The five without any parameter or body (token and user lists, health, readiness, metrics)
    # have no invalid form.
    with_input = [op for op in operations if op.body or op.path_parameters or op.query]
    assert len(with_input) == 28
    for operation in with_input:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=auth)
            if 400 <= response.status_code < 500:
                body = response.json()
                assert list(body) == ["error", "message"], response.text
                assert isinstance(body["message"], str)
                assert (response.status_code, body["error"]) in documented, response.text

        check()
