"""Errors a person can act on, and how every error is shown: an HTML page or JSON, chosen by Accept."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from asyncpg.exceptions import DataError
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from imvo.platform.auth import TotpEnrolmentRequired
from imvo.platform.i18n import N_, gettext, locale_of_connection
from imvo.platform.security import security_headers


class UserError(Exception):
    """Bad input or a broken rule, told in the user's language; nothing was changed.

    `message` is an English msgid (marked with N_), translated where it is shown; `field` names the form
    field it belongs to.
    """

    def __init__(self, message: str, *, field: str | None = None, status: int = 400, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.params = params

    def text(self, locale: str) -> str:
        return gettext(locale, self.message, **self.params)


# Litestar's own messages, for the statuses people meet; anything else gets the generic text of its status.
_STATUS_MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please sign in."),
    403: N_("You are not allowed to do this."),
    404: N_("This page does not exist, or you have no access to it."),
    405: N_("This page cannot be used this way."),
    413: N_("What you sent is too large."),
    429: N_("Too many attempts. Wait a few minutes and try again."),
    500: N_("Something went wrong on our side. Nothing was changed; please try again later."),
}


def wants_json(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _locale(request: Request[Any, Any, Any]) -> str:
    # Unmatched routes (an unknown URL, /favicon.ico) skip the locale middleware; the page needs one anyway.
    if not getattr(request.state, "locale", None):
        request.state.locale = locale_of_connection(request, request.app.state.settings.default_locale)
    return request.state.locale


def error_response(request: Request[Any, Any, Any], status: int, message: str, **extra: Any) -> Response[Any]:
    # Unrouted requests (404, 405) skip the route middleware, so the security headers are set here too.
    headers = {**security_headers(request.app.state.settings.https), "cache-control": "no-store"}
    if wants_json(request):
        return Response(
            {"status_code": status, "detail": message, **extra}, status_code=status, headers=headers
        )
    return Template(
        "platform/error.html",
        context={"status": status, "message": message},
        status_code=status,
        headers=headers,
    )


def handle_user_error(request: Request[Any, Any, Any], error: UserError) -> Response[Any]:
    extra = {"field": error.field} if error.field else {}
    return error_response(request, error.status, error.text(_locale(request)), **extra)


def handle_http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    if not wants_json(request):
        if isinstance(error, TotpEnrolmentRequired):
            return Redirect("/account/two-factor")
        if isinstance(error, NotAuthorizedException) and request.method == "GET":
            return Redirect(f"/sign-in?next={quote(request.url.path)}")
    locale = _locale(request)
    if isinstance(error, ValidationException):
        extra = {"errors": error.extra} if wants_json(request) and error.extra else {}
        return error_response(request, 400, gettext(locale, _STATUS_MESSAGES[400]), **extra)
    if isinstance(error, TotpEnrolmentRequired):
        message = gettext(locale, N_("Set up two-step sign-in first."))
    elif status in _STATUS_MESSAGES:
        message = gettext(locale, _STATUS_MESSAGES[status])
    else:
        message = error.detail
    headers = {"Retry-After": "60"} if status == 429 else {}
    response = error_response(request, status, message)
    response.headers.update(headers)
    return response


def handle_invalid_data(request: Request[Any, Any, Any], _error: Exception) -> Response[Any]:
    """The database refused a value (out of range, not encodable): bad input, not a server fault."""
    return error_response(request, 400, gettext(_locale(request), _STATUS_MESSAGES[400]))


def handle_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # The path only: grievance routes must never leave their content in a log.
    structlog.get_logger().exception("unhandled error", path=request.url.path, method=request.method)
    message = gettext(_locale(request), _STATUS_MESSAGES[500])
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, message)


EXCEPTION_HANDLERS = {
    DataError: handle_invalid_data,  # PostgreSQL: class 22, invalid data
    OverflowError: handle_invalid_data,  # SQLite: an integer beyond 64 bits
    UserError: handle_user_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
