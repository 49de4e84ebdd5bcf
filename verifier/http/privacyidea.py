"""privacyIDEA's `/validate/check` and `/validate/radiuscheck`, beside their routes, so that
privacyIDEA's clients (Keycloak provider, credential provider, PAM module, FreeRADIUS plugin,
simpleSAMLphp, ADFS) work against Baoling unchanged (docs/integrations/privacyidea.md).

The answers have privacyIDEA 3.x's shape (its privacyidea/api/validate.py and the
prepare_result/send_error helpers it calls): `jsonrpc`, `id`, `version`, `versionnumber`,
`time`, `result.status`, `result.value`, `result.authentication` and `detail`; errors are
`result.status: false` with `result.error.code` and `result.error.message` and a 4xx, or a
503 when the store or the master key is out of reach. Every check goes through the same Verifier
operations as `POST /v1/validate` (replay, lockout and audit alike); this module only
translates parameters and answers.

The routes are left out of the OpenAPI description: their parameters come as a query, a form
or JSON, as privacyIDEA takes them, and their errors are privacyIDEA's, not Baoling's error
body; privacyIDEA's documentation describes them, tests/test_privacyidea_compat.py tests them.
"""

import ipaddress
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from baoling.verifier.doors import PRIVACYIDEA, through
from baoling.verifier.engine import (
    ACCEPTED,
    DISABLED,
    LOCKED,
    MALFORMED,
    REPLAY,
    WRONG_CODE,
    WRONG_PIN,
    Decision,
)
from baoling.verifier.errors import InvalidRequest, UnknownToken, UnknownUser, VerifierError
from baoling.verifier.http.auth import KeyCache
from baoling.verifier.http.client_address import client_address
from baoling.verifier.http.errors import library_status
from baoling.verifier.logins import NO_FIT_TOKEN
from baoling.verifier.radius_challenge import DEFAULT_CHALLENGE_TIMEOUT_S, STATE_BYTES
from baoling.verifier.rate_limits import RATE_LIMITED
from baoling.verifier.service import Verifier
from baoling.verifier.settings import IPNetwork
from baoling.verifier.user_names import REALM_SEPARATOR, check_realm

CHECK_PATH = "/validate/check"
RADIUSCHECK_PATH = "/validate/radiuscheck"
# privacyIDEA answers validate requests with id 2 (send_result(..., rid=2)), and only then adds
# result.authentication.
VALIDATE_ID = 2
VERSION_NUMBER = version("baoling")
VERSION = f"Baoling {VERSION_NUMBER} (privacyIDEA 3.x validate API)"
# privacyIDEA's error codes (privacyidea/lib/error.py): ParameterError, PolicyError and
# ResourceNotFoundError, with the HTTP statuses its map_error_to_code gives them.
PARAMETER_ERROR, POLICY_ERROR, NOT_FOUND_ERROR = 905, 303, 601
# And its code for an error of the server's own (api/before_after.py internal_error).
INTERNAL_ERROR = -500
ACCEPT, REJECT = "ACCEPT", "REJECT"

# privacyIDEA's detail.message for each reason a token gives (privacyidea/lib/token.py
# check_token_list, lib/tokenclass.py check_all), and whether it names the token in
# detail.serial, detail.type and detail.otplen (it does when the code was compared).
MESSAGES: dict[str, tuple[str, bool]] = {
    ACCEPTED: ("matching 1 tokens", True),
    WRONG_CODE: ("wrong otp value", True),
    REPLAY: ("wrong otp value. previous otp used again", True),
    # A pass of the wrong length: privacyIDEA reads what is in front of the code as a PIN.
    MALFORMED: ("wrong otp pin", False),
    WRONG_PIN: ("wrong otp pin", False),
    LOCKED: ("Failcounter exceeded", False),
    # Waiting on a rate limit: worded as a wrong code, so the caller learns nothing from it.
    RATE_LIMITED: ("wrong otp value", False),
    DISABLED: ("Token is disabled", False),
}
# An unknown realm or user, a deactivated user or one without tokens: one answer for all, so
# a caller cannot tell which users exist (privacyIDEA answers an unknown user with ERR904).
NO_TOKEN_MESSAGE = "The user has no tokens assigned"
# A challenge: a user with a first factor (docs/users.md, "PINs and passwords") whose `pass`
# is that factor alone gets one, as privacyIDEA's challenge-response tokens do
# (lib/tokenclass.py create_challenge, lib/token.py create_challenges_from_tokens).
CHALLENGE = "CHALLENGE"
CHALLENGE_TEXT = "please enter otp: "  # privacyIDEA's text for an HOTP or TOTP challenge
CLIENT_MODE = "interactive"  # the code is typed in (privacyIDEA's CLIENTMODE.INTERACTIVE)
# The door a challenge is bound to: a State issued here is not answered through RADIUS.
DOOR = "/validate/check"
# A transaction_id is the State's 128 random bits as decimal digits (privacyIDEA's are digits).
TRANSACTION_DIGITS = 39
# The answers to a transaction_id (lib/token.py check_token_list): the code answered the
# challenge, or it did not (a wrong code, or a transaction_id unknown, used, expired, issued to
# another user or for a serial: the same answer).
MATCHED_CHALLENGE = "Found matching challenge"
NO_CHALLENGE_MESSAGE = "Response did not match the challenge."
PARAMETERS = ("user", "realm", "pass", "serial", "otponly", "transaction_id", "state")


class PIError(Exception):
    """An answer in privacyIDEA's error shape: HTTP status, privacyIDEA error code, message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parameter_error(message: str) -> PIError:
    """privacyIDEA's ParameterError, which it words as `ERR905: <message>` (its __str__)."""
    return PIError(400, PARAMETER_ERROR, f"ERR{PARAMETER_ERROR}: {message}")


@dataclass(frozen=True)
class Answer:
    """The outcome of one check: accepted or not, and privacyIDEA's detail for it."""

    accepted: bool
    detail: dict[str, Any] = field(default_factory=dict)
    challenge: bool = False  # a challenge was issued: authentication CHALLENGE


def result_body(answer: Answer, *, no_detail_on_fail: bool = False) -> dict[str, Any]:
    """privacyIDEA's prepare_result for a validate answer; with `no_detail_on_fail`, a reject
    without its detail, as privacyIDEA's policy of that name strips it, so that a user without
    a token and a wrong code for a user's token read the same. A challenge keeps its detail:
    it carries the transaction, and a first factor had to be right to earn it."""
    body = {
        "jsonrpc": "2.0",
        "result": {
            "status": True,
            "value": answer.accepted,
            "authentication": CHALLENGE
            if answer.challenge
            else (ACCEPT if answer.accepted else REJECT),
        },
        "version": VERSION,
        "versionnumber": VERSION_NUMBER,
        "id": VALIDATE_ID,
        "time": time.time(),
        "detail": answer.detail,
    }
    if no_detail_on_fail and not answer.accepted and not answer.challenge:
        del body["detail"]
    return body


def error_body(error: PIError) -> dict[str, Any]:
    """privacyIDEA's send_error (which answers with id 1 and no detail)."""
    return {
        "jsonrpc": "2.0",
        "detail": None,
        "result": {"status": False, "error": {"code": error.code, "message": error.message}},
        "version": VERSION,
        "id": 1,
        "time": time.time(),
    }


# ------------------------------------------------------------------------------ admission


def _api_key(request: Request) -> str:
    """The key as privacyIDEA's clients send it: the `PI-Authorization` or `Authorization`
    header holding the key itself (privacyIDEA's api_key_required), or `Bearer <key>`."""
    for header in ("pi-authorization", "authorization"):
        value = request.headers.get(header, "").strip()
        kind, _, rest = value.partition(" ")
        if kind.lower() == "bearer":
            value = rest.strip()
        if value:
            return value
    return ""


def admit(request: Request) -> None:
    """A request from an address on the allow-list, or with an API key of the validate scope;
    else privacyIDEA's PolicyError answer (403)."""
    allowed: Sequence[IPNetwork] = request.app.state.privacyidea_allow
    if request.client is not None and allowed:
        try:
            ip = ipaddress.ip_address(request.client.host)
        except ValueError:
            ip = None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip is not None and any(ip in network for network in allowed):
            return
    key = _api_key(request)
    keys: KeyCache = request.app.state.keys
    if not key or not keys.allows(key, "validate"):
        raise PIError(403, POLICY_ERROR, "No valid API key was passed.")


# ----------------------------------------------------------------------------- parameters


async def parameters(request: Request) -> dict[str, str]:
    """The query's parameters and the body's (a form or a JSON object), as privacyIDEA's
    get_all_params gathers them. One parameter with two different values is refused."""
    pairs = list(request.query_params.multi_items())
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        pairs += _json_pairs(body)
    elif kind in ("application/x-www-form-urlencoded", "") and body:
        try:
            pairs += parse_qsl(
                body.decode(), keep_blank_values=True, strict_parsing=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise parameter_error("The form is not URL-encoded UTF-8.") from None
    elif body:
        raise parameter_error(
            "Send the parameters as a query, a form (application/x-www-form-urlencoded) or a "
            "JSON object."
        )
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found and found[name] != value:
            raise parameter_error(f"The parameter {name} is given twice, with different values.")
        found[name] = value
    transaction, state = found.get("transaction_id"), found.get("state")
    if transaction and state and transaction != state:
        raise parameter_error("transaction_id and state differ.")
    return found


def _json_pairs(body: bytes) -> list[tuple[str, str]]:
    """A JSON object's members; a number counts as its text (a code sent as a number), and
    `otponly` may be a JSON boolean (privacyIDEA's is_true reads one)."""
    try:
        data = json.loads(body) if body else {}
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deeply
        raise parameter_error("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise parameter_error("The JSON body must be an object.")
    pairs = []
    for name, value in data.items():
        if isinstance(value, bool) and name == "otponly":
            value = "1" if value else "0"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if name in PARAMETERS and not isinstance(value, str):
            raise parameter_error(f"The parameter {name} must be text.")
        if isinstance(value, str):
            pairs.append((name, value))
    return pairs


def user_name(user: str, realm: str) -> str:
    """Baoling's `name@realm` for privacyIDEA's `user` and `realm`: with a realm, the whole
    user is the login name (`alice@example.org` in realm `corp`), unless it already ends in
    that realm; without one, `user` is read as Baoling reads a name (docs/users.md)."""
    if not realm:
        return user
    try:
        check_realm(realm)
    except InvalidRequest as exc:
        raise parameter_error(f"{exc}.") from None
    suffix = f"{REALM_SEPARATOR}{realm}"
    return user if user.endswith(suffix) else f"{user}{suffix}"


# -------------------------------------------------------------------------------- checking


def decide(v: Verifier, params: dict[str, str], source: str | None = None) -> Answer:
    """Check `params` as privacyIDEA's check() does: by serial (the token id), else by user
    (rate-limited by the client's address `source` too, as `POST /v1/validate` is)."""
    user = params.get("user", "").strip()
    serial = params.get("serial", "").strip()
    if not user and not serial:
        raise parameter_error("You need to specify a serial, user or credential_id.")
    if "*" in serial:
        raise parameter_error("Invalid serial number.")
    if "%" in user:
        raise parameter_error("Invalid user.")
    password = params.get("pass")
    if password is None:
        raise parameter_error("Missing parameter: pass")
    name = user_name(params["user"], params.get("realm", "")) if user else None
    answered = params.get("transaction_id") or params.get("state") or ""
    if serial:
        return _by_serial(v, serial, name, password, answered)
    assert name is not None
    return _by_user(v, name, password, answered, source)


def _answer(decision: Decision, token: dict[str, Any]) -> Answer:
    """privacyIDEA's answer for one token's decision; `token` is the token as `Verifier.show`
    gives it, named by its own type (totp or hotp), as check_token_list names it."""
    message, names_token = MESSAGES[decision.reason]
    detail: dict[str, Any] = {"message": message}
    if names_token:
        detail |= {"serial": token["token"], "type": token["kind"], "otplen": token["digits"]}
    return Answer(decision.accepted, detail)


def _by_serial(v: Verifier, serial: str, name: str | None, password: str, answered: str) -> Answer:
    try:
        token = v.show(serial)
        if name is not None and serial not in _tokens_of(v, name):
            raise parameter_error("Given serial does not belong to given user!")
    except (UnknownToken, InvalidRequest):
        raise PIError(404, NOT_FOUND_ERROR, "The requested token could not be found.") from None
    if answered:
        return Answer(False, {"message": NO_CHALLENGE_MESSAGE})
    return _answer(v.check(serial, password), token)


def _tokens_of(v: Verifier, name: str) -> list[str]:
    try:
        return [entry["token"] for entry in v.show_user(name)["tokens"]]
    except UnknownUser:
        return []
    except InvalidRequest as exc:
        raise parameter_error(f"{exc}.") from None


def _by_user(v: Verifier, name: str, password: str, answered: str, source: str | None) -> Answer:
    tokens = _tokens_of(v, name)  # also refuses a malformed name
    if answered:  # the same answer whoever the user is
        return _answer_challenge(v, name, password, answered, tokens, source)
    login = v.login_either(
        name, password, door=DOOR, timeout_s=DEFAULT_CHALLENGE_TIMEOUT_S, source=source
    )
    if login.state is not None:
        return _challenge(v, login.state, [token for token, _ in login.tokens])
    if login.decision is None:  # a wrong first factor, or a directory that could not say
        # A right PIN for a locked or disabled token reads as a wrong one: no hint either way.
        wrong_pin = login.reason in (WRONG_PIN, NO_FIT_TOKEN)
        message = MESSAGES[WRONG_PIN][0] if wrong_pin else NO_TOKEN_MESSAGE
        return Answer(False, {"message": message})
    decided = login.decision
    if decided.reason not in MESSAGES:  # the user's name led to no token
        return Answer(False, {"message": NO_TOKEN_MESSAGE})
    # The token named: the one that accepted, or the only one (privacyIDEA names one token).
    tried = [
        (token_id, decision)
        for token_id, decision in zip(tokens, decided.decisions, strict=False)
        if decision is not None
    ]
    if decided.accepted:
        tried = [(t, d) for t, d in tried if d.accepted]
    if len(tried) == 1 and len(decided.decisions) == len(tokens):
        token_id, decision = tried[0]
        return _answer(decision, v.show(token_id))
    return Answer(decided.accepted, {"message": MESSAGES[decided.reason][0]})


def transaction_id(state: bytes) -> str:
    return f"{int.from_bytes(state, 'big'):0{TRANSACTION_DIGITS}d}"


def _state(transaction: str) -> bytes | None:
    """The State a transaction_id stands for; None when it cannot be one."""
    if len(transaction) != TRANSACTION_DIGITS or not transaction.isdigit():
        return None
    try:
        return int(transaction).to_bytes(STATE_BYTES, "big")
    except OverflowError:
        return None


def _challenge(v: Verifier, state: bytes, tokens: list[str]) -> Answer:
    """privacyIDEA's challenge answer: one challenge per token fit to answer, all under one
    transaction_id."""
    transaction = transaction_id(state)
    kinds = {token: v.show(token)["kind"] for token in tokens}
    challenges = [
        {
            "client_mode": CLIENT_MODE,
            "message": CHALLENGE_TEXT,
            "serial": token,
            "transaction_id": transaction,
            "type": kinds[token],
        }
        for token in tokens
    ]
    detail = {
        "client_mode": CLIENT_MODE,
        "message": CHALLENGE_TEXT,
        "messages": [CHALLENGE_TEXT],
        "multi_challenge": challenges,
        "preferred_client_mode": CLIENT_MODE,
        "serial": tokens[0],
        "transaction_id": transaction,
        "transaction_ids": [transaction for _ in tokens],
        "type": kinds[tokens[0]],
    }
    return Answer(False, detail, challenge=True)


def _answer_challenge(
    v: Verifier, name: str, code: str, transaction: str, tokens: list[str], source: str | None
) -> Answer:
    """The second round: the transaction_id's State is used up, then the code is checked
    against the user's tokens."""
    state = _state(transaction)
    if state is None:
        return Answer(False, {"message": NO_CHALLENGE_MESSAGE})
    login = v.answer_challenge(state, name, code, door=DOOR, source=source)
    if login.decision is None or not login.decision.accepted:
        return Answer(False, {"message": NO_CHALLENGE_MESSAGE})
    accepted = [
        token
        for token, decision in zip(tokens, login.decision.decisions, strict=False)
        if decision is not None and decision.accepted
    ]
    return Answer(True, {"message": MATCHED_CHALLENGE, "serial": accepted[0]})


# ---------------------------------------------------------------------------------- routes


async def check(request: Request) -> Response:
    """`/validate/check` and `/validate/radiuscheck` (GET or POST): privacyIDEA's answer, or
    for radiuscheck an empty 204 (accepted) or 400 (not); errors are JSON on both."""
    try:
        admit(request)
        params = await parameters(request)
        source = client_address(request)
        with through(PRIVACYIDEA, source=source):  # the thread pool sees it (verifier/doors.py)
            answer = await run_in_threadpool(decide, request.app.state.verifier, params, source)
    except VerifierError as exc:  # the store or the master key out of reach: 503, as elsewhere
        error = PIError(library_status(exc)[0], INTERNAL_ERROR, str(exc))
        return JSONResponse(error_body(error), status_code=error.status)
    except PIError as error:
        return JSONResponse(error_body(error), status_code=error.status)
    if request.url.path == RADIUSCHECK_PATH:
        return Response(status_code=204 if answer.accepted else 400, media_type="text/plain")
    no_detail = request.app.state.privacyidea_no_detail_on_fail
    return JSONResponse(result_body(answer, no_detail_on_fail=no_detail))


def add_routes(
    app: FastAPI, allow: Sequence[IPNetwork] = (), no_detail_on_fail: bool = False
) -> None:
    """The privacyIDEA-compatible routes, admitting requests from `allow` without a key, and
    answering a reject without its detail with `no_detail_on_fail` (`result_body`)."""
    app.state.privacyidea_allow = tuple(allow)
    app.state.privacyidea_no_detail_on_fail = no_detail_on_fail
    for path in (CHECK_PATH, RADIUSCHECK_PATH):
        app.add_api_route(
            path, check, methods=["GET", "POST"], include_in_schema=False, tags=["privacyidea"]
        )
