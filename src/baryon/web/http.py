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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from baryon.api.errors import ApiError
from baryon.api.request_body import (
    BodyBudgetExhausted,
    BodyLimits,
    BodyRefused,
    BodyTimedOut,
    ClientDisconnect,
    buffered_body,
    declared_too_large,
)
from baryon.auth.identities import VisitorAndGeneration, visitor_and_generation
from baryon.operations import authorization, in_process, portal_sessions
from baryon.operations import errors as domain_errors
from baryon.operations.context import RequestContext
from baryon.operations.portal_sessions import ActiveSession
from baryon.runtime import Runtime
from baryon.service_models.baryon import AuditDoor
from baryon.web import cookies, csrf, urls

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


def parse_form(request: Request, body: bytes) -> Form:
    """The url-encoded form in ``body``; text that is not UTF-8 is refused, never replaced."""
    if request.method != "POST":
        return Form([])
    try:
        text = body.decode("utf-8")
        # surrogateescape keeps undecodable percent-escapes (%FF, or %ED%A0%80: a UTF-16
        # surrogate) visible below, where parse_qsl's default would replace them silently.
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            errors="surrogateescape",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise PortalError("That form could not be read.", 400) from exc
    for key, value in pairs:
        if not _is_text(key):
            raise PortalError("A field name of that form is not valid UTF-8 text.", 400)
        if not _is_text(value):
            raise PortalError(f"The field '{key}' of that form is not valid UTF-8 text.", 400)
    # Browsers send CRLF in text areas; specs and YAML want plain newlines.
    return Form([(key, value.replace("\r\n", "\n")) for key, value in pairs])


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    # Who the signed-in user is, with the policy generation, read once per visit (one
    # statement): a page asks may() many times, and each operation it calls would otherwise
    # read them again.
    _principal: tuple[str, VisitorAndGeneration] | None = field(
        default=None, init=False, repr=False
    )

    @property
    def user_name(self) -> str | None:
        return self.account.user_name if self.account else None

    @property
    def csrf_token(self) -> str:
        return self.account.csrf_token if self.account else ""

    @property
    def secure(self) -> bool:
        return self.request.url.scheme == "https"

    @property
    def cell(self) -> Runtime:
        """The region the portal shows: the visitor's choice (web/regions.py), else the home
        region. Sessions stay with ``runtime``, the home region's, whatever is shown."""
        chosen = self.runtime.cells.get(self.request.cookies.get(cookies.REGION))
        return chosen or self.runtime

    def context(self, operation: str) -> RequestContext:
        """The context to call an operation in, with the signed-in user as the caller."""
        caller = in_process.portal_caller(self.user_name or "")
        if self._principal is None or self._principal[0] != caller:  # signed in meanwhile
            read = visitor_and_generation(self.runtime.identity_db, self.user_name or "")
            self._principal = (caller, read)
        visitor = self._principal[1]
        context = in_process.context(
            self.cell, caller, operation, self.now, principal=visitor.principal
        )
        context.door = AuditDoor.PORTAL
        # The generation read with the visitor is the shown cell's own only when the cell's
        # database is the identity database; otherwise authorization reads the cell's.
        if self.cell.db is self.runtime.identity_db:
            context.policy_generation = visitor.policy_generation
        return context

    def may(self, operation: str, /, **request: Any) -> bool:
        """Whether the signed-in user may make this call (``{% if may("DeleteEnvironment",
        name=environment.name) %}``): pages hide what the policies would refuse."""
        return authorization.allows(self.context(operation), operation, request)

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
            "region": self.cell.region,
            "regions": self.runtime.cells.regions,
            "may": self.may,
        }
        return self.jinja.get_template(template_file).render({**base, **context})

    def page(self, template_file: str, /, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.render_text(template_file, **context), status_code=status)

    def redirect(self, url: str, flash: str | None = None) -> Response:
        """After a POST: 303, so that reloading the next page does not post again."""
        if flash and self.account is not None:
            portal_sessions.leave_flash(self.runtime, self.account.id, flash)
        return RedirectResponse(url, status_code=303)


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

    limits = BodyLimits.from_settings(runtime.settings, MAX_FORM_BYTES)

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            form = Form([])
            return _secured(
                await run_in_threadpool(
                    _handle, runtime, jinja, handler, request, form, public, fragment
                )
            )
        # What the headers and the session can refuse is refused before the form is read,
        # so that nobody without a session makes the server hold a form.
        refused = await run_in_threadpool(
            _refusal_before_form, runtime, jinja, request, public, fragment
        )
        if refused is not None:
            if declared_too_large(request, limits):
                refused.headers["connection"] = "close"
            return _secured(refused)
        try:
            async with buffered_body(request, limits, runtime.body_budget) as body:
                form = parse_form(request, body)
                response = await run_in_threadpool(
                    _handle, runtime, jinja, handler, request, form, public, fragment
                )
        except PortalError as error:
            return _secured(_error_page(jinja, request, error, None))
        except BodyRefused as refusal:
            log.info("portal request %s: %s", request.url.path, refusal)
            response = _error_page(jinja, request, _refusal_error(refusal), None)
            # Not read in full: what is left of it must not be taken for the next request.
            response.headers["connection"] = "close"
        except ClientDisconnect:
            log.info("portal request %s: the browser went away mid-upload", request.url.path)
            return Response(status_code=400)  # never sent: nobody is listening
        return _secured(response)

    return endpoint


def _refusal_before_form(
    runtime: Runtime,
    jinja: Environment,
    request: Request,
    public: bool,
    fragment: bool,
) -> Response | None:
    """The answer to a POST that its headers already condemn; the same answer the full
    checks in _handle would give once the form was read."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return _error_page(
            jinja, request, PortalError("The portal only accepts its own forms.", 415), None
        )
    if not csrf.same_origin(request.headers.get("origin"), request.headers.get("host")):
        return _error_page(jinja, request, _other_site(), None)
    if public:
        if not request.cookies.get(csrf.SIGN_IN_COOKIE):
            return _error_page(jinja, request, _form_expired(), None)
        return None
    try:
        account = portal_sessions.current(
            runtime, request.cookies.get(cookies.SESSION), datetime.now(UTC)
        )
    except OperationalError:
        return None  # _handle answers this with its "temporarily unavailable" page
    if account is None:
        return _signed_out(request, fragment)
    return None


def _refusal_error(refusal: BodyRefused) -> PortalError:
    if isinstance(refusal, BodyTimedOut):
        return PortalError(
            "The form did not arrive in time. Check the connection and send it again.",
            408,
            "Too slow",
        )
    if isinstance(refusal, BodyBudgetExhausted):
        return PortalError(
            "The server is receiving too many forms at once. Send it again in a moment.",
            503,
            "Busy",
        )
    return PortalError("That form is too large.", 413)


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
    except domain_errors.NotFound as error:
        return _error_page(jinja, request, NotFound(error.message), visit)
    except domain_errors.Conflict as error:
        return _error_page(jinja, request, PortalError(error.message, 409, "Not now"), visit)
    except domain_errors.Forbidden as error:
        return _error_page(jinja, request, PortalError(error.message, 403, "Not allowed"), visit)
    except domain_errors.DomainError as error:
        return _error_page(jinja, request, PortalError(error.message), visit)
    except ApiError as error:  # the API's own checks, such as a page token's
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
    account = portal_sessions.current(
        visit.runtime, visit.request.cookies.get(cookies.SESSION), visit.now
    )
    if account is None:
        return _signed_out(visit.request, fragment)
    visit.account = account
    take_flash = bool(account.flash) and not fragment and visit.request.method == "GET"
    if take_flash:
        visit.flash = account.flash
    if take_flash or account.needs_refresh:
        portal_sessions.keep_alive(visit.runtime, account.id, visit.now, take_flash=take_flash)
    return None


def _signed_out(request: Request, fragment: bool) -> Response:
    if fragment:
        return Response("Signed out", status_code=401, media_type="text/plain")
    next_url = request.url.path if request.method == "GET" else None
    return RedirectResponse(urls.sign_in(next_url), status_code=303)


def _other_site() -> PortalError:
    return PortalError("This form was sent from another site, so it was refused.", 403)


def _form_expired() -> PortalError:
    return PortalError(
        "This form has expired (or was not sent by the portal). Go back, reload the page "
        "and try again.",
        403,
        "Form expired",
    )


def _csrf_check(visit: Visit, expected: str | None) -> None:
    request = visit.request
    if not csrf.same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise _other_site()
    if not csrf.tokens_match(expected, visit.form.get(csrf.FIELD)):
        raise _form_expired()


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
