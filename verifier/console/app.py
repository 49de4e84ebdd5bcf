"""The web console's pages (docs/console.md): a Starlette app that verifier/http/app.py mounts
under /ui/. Every page but sign-in needs a live session (verifier/console/accounts.py); every
form carries the session's CSRF token; every change runs with the account's name on its audit
rows (audit.origin). The work of each page is a call of the Verifier, run in a worker thread.
"""

import hmac
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import segno
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from baoling.verifier import audit as audit_log
from baoling.verifier.audit import AuditReport
from baoling.verifier.backup_codes import expiry
from baoling.verifier.console import charts, i18n
from baoling.verifier.console.accounts import (
    ADMIN,
    RATE_LIMITED,
    REPLAYED,
    ROLES,
    TOKEN_DISABLED,
    TOKEN_LOCKED,
    Session,
    SignInRefused,
)
from baoling.verifier.console.security import SecurityHeaders
from baoling.verifier.drift import Drift
from baoling.verifier.errors import UnknownToken, UnknownUser, VerifierError
from baoling.verifier.http.client_address import forwarded_client
from baoling.verifier.service import Verifier
from baoling.verifier.settings import IPNetwork
from baoling.verifier.users import PRIMARY

PREFIX = "/ui"
SESSION_COOKIE = "baoling_console"
SIGN_IN_COOKIE = "baoling_console_sign_in"  # the sign-in form's CSRF token, before a session
LANGUAGE_COOKIE = "baoling_console_language"
# A token whose predicted clock offset is this many steps or more away is listed as far drift.
FAR_DRIFT_STEPS = 3
AUDIT_ROWS = 100  # on the audit page; a token's or a user's page shows its newest PAGE_ROWS
PAGE_ROWS = 30

_SIGN_IN_MESSAGES = {
    RATE_LIMITED: "Too many failed sign-ins: wait a few minutes.",
    REPLAYED: "This code was used already: wait for the next one.",
    TOKEN_LOCKED: "Your token is locked: ask an administrator to unlock it.",
    TOKEN_DISABLED: "Your token is disabled: ask an administrator.",
}
# What a finished action says on the page it returns to (?done=...).
_DONE = {
    "disable": "The token is disabled.",
    "enable": "The token is enabled.",
    "unlock": "The token is unlocked.",
    "resync": "The token is resynchronised.",
    "resync_failed": "The two codes were not found together: nothing changed.",
    "reset-drift": "The drift is reset.",
    "assign": "The token is assigned.",
    "unassign": "The token is unassigned.",
    "delete": "The token is deleted.",
    "not_deleted": "The typed id does not match: nothing was deleted.",
    "account_added": "The account is added.",
    "account_disabled": "The account is deactivated; its sessions ended.",
    "account_enabled": "The account is active again.",
    "account_password": "The password is replaced; the account's sessions ended.",
    "account_token": "The account signs in with the new token; its sessions ended.",
}
# What an admin may do to console accounts on the Accounts page, and what the page then says
# (the helpdesk may do nothing there, nor see it).
ACCOUNT_ACTIONS = {
    "add": "account_added",
    "disable": "account_disabled",
    "enable": "account_enabled",
    "password": "account_password",
    "token": "account_token",
}
# What the console says when Starlette refuses a request before any page sees it, by status:
# a form body it cannot parse (a multipart form without its boundary, over 1,000 fields), an
# address with no page (a typo, an old bookmark), a form's address opened as a page.
_HTTP_ERRORS = {
    400: "The form could not be read; nothing was changed.",
    404: "There is no such page in the console.",
    405: "This address only takes the form of its page: open the page and use its button.",
}
# What the tokens list says of a number filter it cannot read.
_FILTER_ERRORS = {
    "drift": "Drift beyond is a number of steps, 0 or more.",
    "used": "Used within is a number of days, or never.",
}
# The header's menu, in order: each page's name, path and who may open it. The whole audit
# trail is the administrators' check on everyone, the helpdesk included (docs/console.md,
# "Roles"); a token's and a user's pages show their own rows.
MENU = (
    ("Overview", "/overview", ROLES),
    ("Tokens", "/tokens", ROLES),
    ("Users", "/users", ROLES),
    ("Enrol", "/enrol", (ADMIN,)),
    ("Audit", "/audit", (ADMIN,)),
    ("Accounts", "/accounts", (ADMIN,)),
)
_MENU_ROLES = {path: roles for _, path, roles in MENU}
# Token actions and who may do them; the rest of the console is open to both roles.
TOKEN_ACTIONS = {
    "disable": ROLES,
    "enable": ROLES,
    "unlock": ROLES,
    "resync": ROLES,
    "assign": ROLES,
    "unassign": ROLES,
    "reset-drift": (ADMIN,),
    "delete": (ADMIN,),
}


class Refused(Exception):
    """A request the console answers with an error page: `status` and a message key."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Page:
    """What a page handler gets: the request's form, session and language."""

    request: Request
    session: Session
    language: str
    form: FormData | None = None

    def arg(self, name: str) -> str:
        """A form field (POST) or query parameter (GET), stripped; empty when absent. One with
        a NUL is refused: no field has a use for it, and PostgreSQL refuses it in a query."""
        source = self.form if self.form is not None else self.request.query_params
        value = source.get(name, "")
        text = value.strip() if isinstance(value, str) else ""
        if "\x00" in text:
            raise Refused(400, "A field holds a NUL character; nothing was changed.")
        return text


def when(ts: float | None) -> str:
    """Unix time as the console shows it: UTC, to the second."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _moment(text: str, *, through_day: bool = False) -> float | None:
    """An audit filter's time as Unix time, None when empty: `YYYY-MM-DD HH:MM` (or with a T,
    or seconds) in UTC, or a day `YYYY-MM-DD`: its midnight, or with `through_day` the next
    midnight, so that `until` a day includes that day."""
    if not text:
        return None
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return (moment + timedelta(days=1 if through_day else 0)).timestamp()
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise Refused(400, "A time is written YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC).") from None


class Console:
    """The console of one Verifier: its routes and templates."""

    def __init__(
        self,
        verifier: Verifier,
        idle_s: float,
        max_s: float,
        trusted_proxies: Sequence[IPNetwork],
    ) -> None:
        self.verifier, self.idle_s, self.max_s = verifier, idle_s, max_s
        self.trusted_proxies = tuple(trusted_proxies)
        self.templates = Environment(
            loader=PackageLoader("baoling.verifier.console", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = when

    # ------------------------------------------------------------------ plumbing

    def render(
        self,
        request: Request,
        language: str,
        name: str,
        status: int = 200,
        session: Session | None = None,
        **values: Any,
    ) -> HTMLResponse:
        template = self.templates.get_template(name)
        html = template.render(
            t=lambda text: i18n.translate(language, text),
            language=language,
            languages=i18n.LANGUAGE_NAMES,
            session=session,
            menu=[(name, path) for name, path, roles in MENU if session and session.role in roles],
            path=request.url.path,
            prefix=PREFIX,
            frame=charts.FRAME,
            **values,
        )
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def language(request: Request) -> str:
        return i18n.choose(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

    @staticmethod
    def _secure(request: Request) -> bool:
        """Cookies are Secure when the browser talks TLS: to us, or to a proxy in front that
        says so in X-Forwarded-Proto. The header is believed from any peer: all it can do is
        make the sender's own cookie Secure, which never weakens it."""
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return request.url.scheme == "https" or forwarded == "https"

    @staticmethod
    def _to_sign_in(ended: bool) -> Response:
        """To sign-in, saying so when a session cookie came that no longer names a session."""
        response = RedirectResponse(f"{PREFIX}/sign-in{'?ended=1' if ended else ''}", 303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    def page(
        self, handler: Callable[[Page], Response], roles: tuple[str, ...] = ROLES
    ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint for `handler`: a live session, the CSRF token on a POST, the role,
        then the handler in a worker thread with the account's name on its audit rows."""

        async def endpoint(request: Request) -> Response:
            language = self.language(request)
            session = await self._session(request)
            if session is None:
                return self._to_sign_in(ended=bool(request.cookies.get(SESSION_COOKIE)))
            form = await request.form() if request.method == "POST" else None
            page = Page(request, session, language, form)
            try:
                if form is not None and not _same_csrf(form, session.csrf):
                    raise Refused(403, _CSRF_MESSAGE)
                if session.role not in roles:
                    await run_in_threadpool(self._deny, page)
                return await run_in_threadpool(self._run, handler, page)
            except Refused as exc:
                return self.render(
                    request, language, "error.html", exc.status, session, message=exc.message
                )

        return endpoint

    def _deny(self, page: Page, token_id: str | None = None) -> NoReturn:
        """Refuse what the page's role may not do, with a `console_denied` audit row naming
        the account, its role, the path and the token when there is one."""
        session = page.session
        path = page.request.url.path
        self.verifier.console.audit(
            "console_denied", session.account, token_id, path=path, role=session.role
        )
        raise Refused(403, "Your role may not do this; the attempt was recorded.")

    def _may_change(self, page: Page, token_id: str) -> bool:
        """Whether the page's role may change this token: only an admin changes one a console
        account signs in with, else the helpdesk could disable an admin's token and shut every
        admin out of the console."""
        if page.session.role == ADMIN:
            return True
        return token_id not in {a["token"] for a in self.verifier.console.list_accounts()}

    async def _session(self, request: Request) -> Session | None:
        """The live session of the request's cookie, or None."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        return await run_in_threadpool(
            self.verifier.console.session, cookie, self.idle_s, self.max_s
        )

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (_HTTP_ERRORS) as the console's error page in the
        person's language, with their session's header, rather than its bare text."""
        assert isinstance(exc, HTTPException)  # handled by status: only HTTPException has one
        session = await self._session(request)
        message = _HTTP_ERRORS[exc.status_code]
        language = self.language(request)
        response = self.render(
            request, language, "error.html", exc.status_code, session, message=message
        )
        response.headers.update(exc.headers or {})  # a 405's Allow
        return response

    def _run(self, handler: Callable[[Page], Response], page: Page) -> Response:
        with audit_log.origin(console_account=page.session.account):
            try:
                return handler(page)
            except VerifierError as exc:
                return self.render(
                    page.request,
                    page.language,
                    "error.html",
                    404 if isinstance(exc, UnknownToken | UnknownUser) else 400,
                    page.session,
                    message=str(exc),
                )

    def view(self, page: Page, name: str, **values: Any) -> HTMLResponse:
        return self.render(page.request, page.language, name, 200, page.session, **values)

    # ------------------------------------------------------------------ sign-in

    async def sign_in(self, request: Request) -> Response:
        language = self.language(request)
        if request.method != "POST":  # GET, or HEAD (Starlette answers it as GET, bodiless)
            token = secrets.token_urlsafe(32)
            message = (
                "Your session has ended: sign in again."
                if "ended" in request.query_params
                else None
            )
            response = self.render(
                request, language, "sign_in.html", csrf=token, message=message, account=""
            )
            response.set_cookie(
                SIGN_IN_COOKIE,
                token,
                path=PREFIX,
                httponly=True,
                samesite="strict",
                secure=self._secure(request),
            )
            return response
        form = await request.form()
        expected = request.cookies.get(SIGN_IN_COOKIE, "")
        if not expected or not _same_csrf(form, expected):
            return self.render(request, language, "error.html", 403, message=_CSRF_MESSAGE)
        account = str(form.get("account", "")).strip()
        address = ""
        if request.client is not None:  # the client behind a trusted proxy, as the API counts it
            forwarded = request.headers.getlist("x-forwarded-for")
            address = forwarded_client(request.client.host, forwarded, self.trusted_proxies)
        try:
            cookie, _ = await run_in_threadpool(
                self.verifier.console.sign_in,
                account,
                str(form.get("password", "")),
                str(form.get("code", "")).strip(),
                address=address,
            )
        except SignInRefused as exc:
            message = _SIGN_IN_MESSAGES.get(exc.reason, "Wrong name, password or code.")
            status = 429 if exc.reason == RATE_LIMITED else 200
            return self._sign_in_again(request, language, expected, account, message, status)
        old = request.cookies.get(SESSION_COOKIE)
        if old:  # a session this browser had ends: one browser, one session
            await run_in_threadpool(self.verifier.console.sign_out, old)
        signed_in = RedirectResponse(f"{PREFIX}/overview", status_code=303)
        signed_in.set_cookie(
            SESSION_COOKIE,
            cookie,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
        )
        signed_in.delete_cookie(SIGN_IN_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return signed_in

    def _sign_in_again(
        self, request: Request, language: str, csrf: str, account: str, message: str, status: int
    ) -> Response:
        return self.render(
            request,
            language,
            "sign_in.html",
            status,
            csrf=csrf,
            message=message,
            account=account,
        )

    def sign_out(self, page: Page) -> Response:
        cookie = page.request.cookies.get(SESSION_COOKIE, "")
        self.verifier.console.sign_out(cookie)
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def choose_language(self, request: Request) -> Response:
        chosen = request.query_params.get("to", "")
        back = request.query_params.get("back", "")
        if not back.startswith(PREFIX + "/") or "//" in back or "\\" in back:
            back = f"{PREFIX}/overview"
        response = RedirectResponse(back, status_code=303)
        if chosen in i18n.LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE,
                chosen,
                path=PREFIX,
                samesite="strict",
                secure=self._secure(request),
                max_age=365 * 86400,
            )
        return response

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/overview", status_code=303)

    # ------------------------------------------------------------------ pages

    def overview(self, page: Page) -> Response:
        now = time.time()
        results = self.verifier.validation_results(now - charts.MINUTES * 60)
        tokens = self.verifier.list_tokens()
        locked = [t for t in tokens if t["locked"]]
        far = [row for row in (_token_row(t, {}, now) for t in tokens) if row["far"]]
        events = None
        if self.verifier.outbox.types:
            events = {
                "pending": self.verifier.outbox.backlog(),
                "dead": self.verifier.outbox.count("dead"),
            }
        return self.view(
            page,
            "overview.html",
            chart=charts.minute_chart(results, now),
            locked=locked,
            far=far,
            chain=self._chain_status(),
            events=events,
        )

    def _chain_status(self) -> tuple[float, AuditReport]:
        """The last verify of the audit chain in this process (the Audit page's, or a
        delivering node's hourly one): reading the whole chain on every load would make the
        overview as slow as the chain is long. The first load of a process verifies once."""
        last = self.verifier.last_audit_verify()
        if last is None:
            report = self.verifier.verify_audit()
            last = self.verifier.last_audit_verify() or (time.time(), report)
        return last

    def tokens(self, page: Page) -> Response:
        now = time.time()
        owners = _owners(self.verifier.list_users())
        rows = [_token_row(t, owners, now) for t in self.verifier.list_tokens()]
        filters = {
            name: page.arg(name) for name in ("q", "state", "user", "realm", "drift", "used")
        }
        drift = _filter_number(filters, "drift")
        days = None if filters["used"] == "never" else _filter_number(filters, "used")
        shown = [row for row in rows if _matches(row, filters, drift, days, now)]
        realms = sorted({row["realm"] for row in rows if row["realm"]})
        done = _DONE.get(page.arg("done"))
        return self.view(page, "tokens.html", rows=shown, filters=filters, realms=realms, done=done)

    def token(self, page: Page) -> Response:
        token_id = page.arg("id")
        now = time.time()
        info = self.verifier.show(token_id)
        owners = _owners(self.verifier.list_users())
        row = _token_row(info, owners, now)
        drift = Drift.from_json(_drift_text(info))
        return self.view(
            page,
            "token.html",
            token=info,
            row=row,
            chart=charts.drift_chart(drift, now) if info["period"] else None,
            rate_ppm=drift.rate_ppm,
            offset_s=drift.offset_at(now),
            audit_rows=self.verifier.search_audit(token=token_id, limit=PAGE_ROWS),
            done=_DONE.get(page.arg("done")),
            admin=page.session.role == ADMIN,
            may_change=self._may_change(page, token_id),
        )

    def token_action(self, action: str) -> Callable[[Page], Response]:
        def act(page: Page) -> Response:
            token_id = page.arg("token")
            if not self._may_change(page, token_id):
                self._deny(page, token_id)
            done = action
            if action == "resync":
                if not self.verifier.resync(token_id, page.arg("code1"), page.arg("code2")):
                    done = "resync_failed"
            elif action == "assign":  # proof of possession: a code from the token
                user = page.arg("user")
                role = page.arg("role") or PRIMARY
                self.verifier.assign(token_id, user, role, code=page.arg("code"))
                if page.arg("back") == "user":
                    return _back(f"/user?user={quote(user)}", done)
            elif action == "unassign":
                self.verifier.unassign(token_id)
            elif action == "delete":
                if page.arg("confirm") != token_id:
                    return _back(f"/token?id={quote(token_id)}", "not_deleted")
                self.verifier.delete(token_id)
                return _back("/tokens", "delete")
            else:
                getattr(self.verifier, action.replace("-", "_"))(token_id)
            return _back(f"/token?id={quote(token_id)}", done)

        return act

    def users(self, page: Page) -> Response:
        query = page.arg("q").lower()
        users = [u for u in self.verifier.list_users() if query in u["user"].lower()]
        return self.view(page, "users.html", users=users, q=page.arg("q"))

    def user(self, page: Page) -> Response:
        info = self.verifier.show_user(page.arg("user"))
        rows = self.verifier.search_audit(detail={"user": info["user"]}, limit=PAGE_ROWS)
        week = datetime.fromtimestamp(time.time(), UTC).date() + timedelta(days=7)
        return self.view(
            page,
            "user.html",
            user=info,
            audit_rows=rows,
            done=_DONE.get(page.arg("done")),
            expires=week.isoformat(),
        )

    def lost_token(self, page: Page) -> Response:
        """The lost-token flow: disable the token, then give its user backup codes, shown on
        this page once (only their slow hashes are kept). What the codes need is checked
        before the token is disabled (a day they may have, an active user who has the token),
        so a refusal leaves the user with the token, not with neither."""
        user, token_id = page.arg("user"), page.arg("token")
        try:
            last_day = date.fromisoformat(page.arg("expires"))
        except ValueError:
            raise Refused(400, "The last day is not a date.") from None
        expiry(last_day, self.verifier.policy.lockout_tz, time.time())  # InvalidRequest
        info = self.verifier.show_user(user)
        if not info["active"]:
            raise Refused(400, "The user is deactivated: nothing was changed.")
        if token_id not in [t["token"] for t in info["tokens"]]:
            raise Refused(400, "The token is not this user's: nothing was changed.")
        if not self._may_change(page, token_id):
            self._deny(page, token_id)
        self.verifier.report_lost(token_id)
        codes, expires = self.verifier.issue_backup_codes(user, last_day)
        return self.view(
            page, "backup_codes.html", user=user, token_id=token_id, codes=codes, expires=expires
        )

    def enrol(self, page: Page) -> Response:
        if page.form is None:
            suggested = f"phone-{secrets.token_hex(4)}"
            return self.view(page, "enrol.html", token_id=suggested, user=page.arg("user"))
        token_id, user = page.arg("token_id"), page.arg("user")
        label = page.arg("label") or user
        self.verifier.show_user(user)  # an unknown user stops here, before a token exists
        uri = self.verifier.enrol(token_id, label=label, issuer="Baoling")
        # The QR code is on this answer only; the token is the user's once the phone shows a
        # code from it (assign with proof of possession, from the form under the QR code).
        qr = segno.make(uri, error="m").svg_inline(scale=4, omitsize=True)
        return self.view(page, "enrolled.html", token_id=token_id, user=user, qr=qr)

    def audit(self, page: Page) -> Response:
        common: dict[str, Any] = {
            "action": page.arg("action") or None,
            "since": _moment(page.arg("since")),
            "until": _moment(page.arg("until"), through_day=True),
            "limit": AUDIT_ROWS,
        }
        account = {"console_account": page.arg("account")} if page.arg("account") else {}
        token = page.arg("token") or None
        if not page.arg("user"):
            rows = self.verifier.search_audit(token=token, detail=account, **common)
        else:
            rows = self._user_rows(page.arg("user"), token, account, common)
        report = self.verifier.verify_audit() if page.form is not None else None
        filters = {n: page.arg(n) for n in ("token", "user", "account", "action", "since", "until")}
        return self.view(page, "audit.html", audit_rows=rows, filters=filters, report=report)

    def _user_rows(
        self, typed: str, token: str | None, account: dict[str, str], common: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """A user's audit rows: those that name the user (as the directory names them:
        `alice` is `alice@default`), and those of the tokens the user has now, which often do
        not (a token disabled by its id), newest first."""
        try:
            info = self.verifier.show_user(typed)
            name, tokens = info["user"], [t["token"] for t in info["tokens"]]
        except UnknownUser:
            name, tokens = typed, []
        found = self.verifier.search_audit(token=token, detail={**account, "user": name}, **common)
        for token_id in tokens:
            if token is None or token == token_id:
                found += self.verifier.search_audit(token=token_id, detail=account, **common)
        unique = {row["seq"]: row for row in found}
        return sorted(unique.values(), key=lambda row: row["seq"], reverse=True)[:AUDIT_ROWS]

    def accounts(self, page: Page) -> Response:
        return self.view(
            page,
            "accounts.html",
            accounts=self.verifier.console.list_accounts(),
            roles=ROLES,
            done=_DONE.get(page.arg("done")),
        )

    def account_action(self, action: str) -> Callable[[Page], Response]:
        """An admin's change to a console account; each is audited with the admin's name (the
        row's `account` is the account changed) and ends that account's sessions."""

        def act(page: Page) -> Response:
            name = page.arg("account")
            console = self.verifier.console
            if action == "add":
                console.add(name, page.arg("role"), page.arg("password"), page.arg("token"))
            elif action == "disable":
                if name == page.session.account:  # so one active admin always remains
                    raise Refused(400, "You cannot deactivate your own account.")
                console.set_active(name, False)
            elif action == "enable":
                console.set_active(name, True)
            elif action == "password":
                console.set_password(name, page.arg("password"))
            else:
                console.set_token(name, page.arg("token"))
            return _back("/accounts", ACCOUNT_ACTIONS[action])

        return act

    # ------------------------------------------------------------------ routes

    def app(self) -> Starlette:
        page = self.page
        routes = [
            Route("/", self.home),
            Route("/sign-in", self.sign_in, methods=["GET", "POST"]),
            Route("/sign-out", page(self.sign_out), methods=["POST"]),
            Route("/language", self.choose_language),
            Route("/overview", page(self.overview, _MENU_ROLES["/overview"])),
            Route("/tokens", page(self.tokens, _MENU_ROLES["/tokens"])),
            Route("/token", page(self.token)),
            Route("/users", page(self.users, _MENU_ROLES["/users"])),
            Route("/user", page(self.user)),
            Route("/user/lost-token", page(self.lost_token), methods=["POST"]),
            Route("/enrol", page(self.enrol, _MENU_ROLES["/enrol"]), methods=["GET", "POST"]),
            Route("/audit", page(self.audit, _MENU_ROLES["/audit"]), methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static")),
        ]
        for action, roles in TOKEN_ACTIONS.items():
            routes.append(
                Route(f"/token/{action}", page(self.token_action(action), roles), methods=["POST"])
            )
        routes.append(Route("/accounts", page(self.accounts, _MENU_ROLES["/accounts"])))
        for action in ACCOUNT_ACTIONS:
            handler = page(self.account_action(action), (ADMIN,))
            routes.append(Route(f"/accounts/{action}", handler, methods=["POST"]))
        handlers = {status: self.http_error for status in _HTTP_ERRORS}
        console = Starlette(routes=routes, exception_handlers=handlers)
        console.add_middleware(SecurityHeaders)
        return console


_CSRF_MESSAGE = "The form has expired or did not come from this console; nothing was changed."


def create_console(
    verifier: Verifier,
    *,
    idle_s: float,
    max_s: float,
    trusted_proxies: Sequence[IPNetwork] = (),
) -> Starlette:
    """The console app for `verifier`, to be mounted at PREFIX; `trusted_proxies` are the
    peers whose X-Forwarded-For names the client (the http_trusted_proxies setting)."""
    return Console(verifier, idle_s, max_s, trusted_proxies).app()


def _same_csrf(form: FormData, expected: str) -> bool:
    """Whether the form's CSRF token is `expected`, compared in constant time as bytes:
    compare_digest refuses a str with a non-ASCII character (a TypeError, a 500) and a
    forged form may hold anything."""
    given = str(form.get("csrf", ""))
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _back(path: str, done: str) -> Response:
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{PREFIX}{path}{joiner}done={done}", status_code=303)


def _drift_text(info: dict[str, Any]) -> str:
    return json.dumps(info["drift"])


def _owners(users: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each assigned token's user, by token id."""
    return {t["token"]: u for u in users for t in u["tokens"]}


def _token_row(
    info: dict[str, Any], owners: dict[str, dict[str, Any]], now: float
) -> dict[str, Any]:
    """A token as the lists show it: state, user, drift in steps, when last used."""
    drift = Drift.from_json(_drift_text(info))
    offset = drift.offset_at(now)
    timed = bool(info["period"])  # an HOTP token (period 0) has a counter, not a clock
    steps = offset / info["period"] if timed else 0.0
    state = "disabled" if not info["enabled"] else "locked" if info["locked"] else "active"
    last_used = None
    if timed and info["last_step"] is not None:
        last_used = info["last_step"] * info["period"] - offset
    owner = owners.get(info["token"])
    return {
        "token": info["token"],
        "label": info["label"],
        "state": state,
        "user": owner["user"] if owner else "",
        "realm": owner["realm"] if owner else "",
        "drift_steps": steps,
        "far": abs(steps) >= FAR_DRIFT_STEPS,
        "last_used": last_used,
    }


def _filter_number(filters: dict[str, str], name: str) -> float | None:
    """The tokens list's filter `name` as a number, 0 or more; None when empty. One that
    cannot be read (`7d`, `nan`) is refused: it would pass or hide every row without a word."""
    text = filters[name]
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise Refused(400, _FILTER_ERRORS[name])
    return number


def _matches(
    row: dict[str, Any],
    filters: dict[str, str],
    drift: float | None,
    days: float | None,
    now: float,
) -> bool:
    """Whether a token row passes the list's filters (each empty filter passes); `drift` and
    `days` are the drift and used filters' numbers."""
    query = filters["q"].lower()
    if query and query not in row["token"].lower() and query not in row["label"].lower():
        return False
    if filters["state"] and row["state"] != filters["state"]:
        return False
    if filters["user"] and filters["user"].lower() not in row["user"].lower():
        return False
    if filters["realm"] and row["realm"] != filters["realm"]:
        return False
    if drift is not None and abs(row["drift_steps"]) < drift:
        return False
    if filters["used"] == "never":
        return row["last_used"] is None
    if days is None:
        return True
    return row["last_used"] is not None and row["last_used"] >= now - days * 86400
