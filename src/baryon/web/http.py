"""The plumbing every portal page shares: sessions, CSRF, forms, friendly errors.

A page handler is a plain function ``handler(visit) -> Response`` run in a worker thread (it
uses the database synchronously, as operations do). ``page()`` wraps it: it reads the form,
finds the session, refuses POSTs without the session's CSRF token, shows the flash message
once, and turns every failure into a readable page; tracebacks go to the log, never to the
browser.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from baryon.api.errors import ApiError, ConflictException, ResourceNotFoundException
from baryon.runtime import Runtime
from baryon.store.database import Database
from baryon.web import csrf, urls
from baryon.web.sessions import COOKIE, ActiveSession, find_session, refresh, set_flash

log = logging.getLogger("baryon.web")

MAX_FORM_BYTES = 512 * 1024  # a spec is at most 50 KiB; a few of them fit with room to spare
MAX_FORM_FIELDS = 2000
FORM_TYPE = "application/x-www-form-urlencoded"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PortalError(Exception):
    """A readable failure with its HTTP status, shown as an error page."""

    def __init__(self, message: str, status: int = 400, title: str = "That did not work") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title


class NotFound(PortalError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 404, "Not found")


class Form(Mapping[str, str]):
    """A submitted url-encoded form: the first value of each name, and all values on demand."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._first: dict[str, str] = {}
        for key, value in pairs:
            self._first.setdefault(key, value)

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def all(self, key: str) -> list[str]:
        return [value for name, value in self._pairs if name == key]


async def read_form(request: Request) -> Form:
    if request.method != "POST":
        return Form([])
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise PortalError("The portal only accepts its own forms.", 415)
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise PortalError("That form is too large.", 413)
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PortalError("That form could not be read.", 400) from exc
    # Browsers send CRLF in text areas; specs and YAML want plain newlines.
    return Form([(key, value.replace("\r\n", "\n")) for key, value in pairs])


@dataclass
class Visit:
    """One request to a portal page, as its handler sees it."""

    request: Request
    runtime: Runtime
    jinja: Environment
    form: Form
    now: datetime
    account: ActiveSession | None = None
    flash: str | None = None

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def user_name(self) -> str | None:
        return self.account.user_name if self.account else None

    @property
    def csrf_token(self) -> str:
        return self.account.csrf_token if self.account else ""

    @property
    def secure(self) -> bool:
        return self.request.url.scheme == "https"

    def param(self, name: str) -> str:
        return str(self.request.path_params.get(name, ""))

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def render_text(self, template_file: str, /, **context: Any) -> str:
        base = {
            "urls": urls,
            "user_name": self.user_name,
            "csrf_token": self.csrf_token,
            "csrf_field": csrf.FIELD,
            "flash": self.flash,
            "path": self.request.url.path,
        }
        return self.jinja.get_template(template_file).render({**base, **context})

    def page(self, template_file: str, /, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.render_text(template_file, **context), status_code=status)

    def redirect(self, url: str, flash: str | None = None) -> Response:
        """After a POST: 303, so that reloading the next page does not post again."""
        if flash and self.account is not None:
            with self.db.session(write=True) as session:
                set_flash(session, self.account.id, flash)
        return RedirectResponse(url, status_code=303)

    def wakeup_workers(self) -> None:
        """After a transaction that enqueued jobs has committed."""
        self.runtime.job_wakeup.set()


Handler = Callable[[Visit], Response]


def page(
    runtime: Runtime,
    jinja: Environment,
    handler: Handler,
    *,
    public: bool = False,
    fragment: bool = False,
) -> Callable[[Request], Any]:
    """The Starlette endpoint for ``handler``; ``fragment`` marks a live-update fragment."""

    async def endpoint(request: Request) -> Response:
        try:
            form = await read_form(request)
        except PortalError as error:
            return _secured(_error_page(jinja, request, error, None))
        response = await run_in_threadpool(
            _handle, runtime, jinja, handler, request, form, public, fragment
        )
        return _secured(response)

    return endpoint


def _handle(
    runtime: Runtime,
    jinja: Environment,
    handler: Handler,
    request: Request,
    form: Form,
    public: bool,
    fragment: bool,
) -> Response:
    visit = Visit(request, runtime, jinja, form, datetime.now(UTC))
    try:
        if not public:
            refused = _sign_in_check(visit, fragment)
            if refused is not None:
                return refused
        if request.method == "POST" and not public:
            _csrf_check(visit, visit.account.csrf_token if visit.account else None)
        response = handler(visit)
    except PortalError as error:
        return _error_page(jinja, request, error, visit)
    except ResourceNotFoundException as error:
        return _error_page(jinja, request, NotFound(error.message), visit)
    except ConflictException as error:
        return _error_page(jinja, request, PortalError(error.message, 409, "Not now"), visit)
    except ApiError as error:
        return _error_page(jinja, request, PortalError(error.message, error.status), visit)
    except OperationalError:
        log.warning("portal request %s: the database is unavailable", request.url.path)
        unavailable = PortalError(
            "Baryon cannot reach its database right now. Try again in a moment.",
            503,
            "Temporarily unavailable",
        )
        return _error_page(jinja, request, unavailable, visit)
    except Exception:
        reference = uuid.uuid4().hex[:12]
        log.exception("portal request %s failed (reference %s)", request.url.path, reference)
        failure = PortalError(
            "Something went wrong on our side. The details are in the server's log under "
            f"reference {reference}.",
            500,
            "Something went wrong",
        )
        return _error_page(jinja, request, failure, visit)
    return response


def _sign_in_check(visit: Visit, fragment: bool) -> Response | None:
    token = visit.request.cookies.get(COOKIE)
    with visit.db.session() as session:
        account = find_session(session, token, visit.now)
    if account is None:
        if fragment:
            return Response("Signed out", status_code=401, media_type="text/plain")
        next_url = visit.request.url.path if visit.request.method == "GET" else None
        return RedirectResponse(urls.sign_in(next_url), status_code=303)
    visit.account = account
    take_flash = bool(account.flash) and not fragment and visit.request.method == "GET"
    if take_flash:
        visit.flash = account.flash
    if take_flash or account.needs_refresh:
        with visit.db.session(write=True) as session:
            refresh(session, account.id, visit.now, take_flash=take_flash)
    return None


def _csrf_check(visit: Visit, expected: str | None) -> None:
    request = visit.request
    if not csrf.same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise PortalError("This form was sent from another site, so it was refused.", 403)
    if not csrf.tokens_match(expected, visit.form.get(csrf.FIELD)):
        raise PortalError(
            "This form has expired (or was not sent by the portal). Go back, reload the page "
            "and try again.",
            403,
            "Form expired",
        )


def check_sign_in_form(visit: Visit) -> None:
    """The sign-in form's double-submit check (there is no session yet)."""
    _csrf_check(visit, visit.request.cookies.get(csrf.SIGN_IN_COOKIE))


def _error_page(
    jinja: Environment, request: Request, error: PortalError, visit: Visit | None
) -> Response:
    context = {
        "urls": urls,
        "user_name": visit.user_name if visit else None,
        "csrf_token": visit.csrf_token if visit else "",
        "csrf_field": csrf.FIELD,
        "flash": None,
        "path": request.url.path,
        "title": error.title,
        "message": error.message,
        "status": error.status,
    }
    try:
        body = jinja.get_template("error.html").render(context)
    except Exception:  # the error page itself must never fail
        log.exception("the portal's error page failed")
        body = "<!doctype html><title>Error</title><p>Something went wrong.</p>"
    return HTMLResponse(body, status_code=error.status)


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def not_found_endpoint(jinja: Environment) -> Callable[..., Any]:
    """The portal's answer to a path it does not know: the friendly 404 page."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = _error_page(jinja, request, NotFound("There is no page at this address."), None)
        await _secured(response)(scope, receive, send)

    return app
