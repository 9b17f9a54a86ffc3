"""One error model for every HTTP API (the CKAN API, the sharing API, downloads, admin pages).

An API raises a `Problem` (or any error): `problem_of` is the one place that decides its HTTP
status, and `Problem.body()` its one shape, `{"code", "message", "field"}`. Each API wraps that
shape in the envelope its clients expect: the sharing API in `{"result": "error", "error": …}`,
the CKAN API in CKAN's `{"success": false, "error": {"__type": …}}` (ckanapi reads `__type`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from lgsp.core.errors import LgspError
from lgsp.publishing.objectstore import StoreError

log = logging.getLogger(__name__)
STORE_DOWN = (
    "Kho bản phát hành tạm thời không trả lời, xin thử lại sau / The release store is not answering, try again later"
)


class Problem(LgspError):
    """An error an API answers with: its status, a stable `code`, and CKAN's name for it."""

    status = 500
    code = "server_error"
    ckan_type = "Internal Server Error"

    def __init__(self, detail: str | dict[str, list[str]], **where: Any) -> None:
        """`detail` is a message, or (as CKAN reports validation errors) a list of messages per field."""
        self.details: dict[str, list[str]] = detail if isinstance(detail, dict) else {}
        if isinstance(detail, dict):
            message = "; ".join(f"{name}: {', '.join(map(str, msgs))}" for name, msgs in detail.items())
            where.setdefault("field", next(iter(detail), None))
        else:
            message = detail
        super().__init__(message, **where)

    def body(self) -> dict[str, Any]:
        """The one shape of an error, inside whatever envelope the API uses."""
        return {"code": self.code, "message": self.message, "field": self.field}

    def ckan_error(self) -> dict[str, Any]:
        """CKAN's error object: `__type`, then the per-field messages or a `message`."""
        return {"__type": self.ckan_type, **(self.details or {"message": self.message})}


class BadRequest(Problem):
    """A malformed request: an unknown column, a bad cursor, a bad filter. Names the field."""

    status = 400
    code = "bad_request"
    ckan_type = "Bad request"


class UnknownAction(BadRequest):
    code = "unknown_action"
    ckan_type = "Bad request - Action name not known"


class Unauthenticated(Problem):
    status = 401
    code = "unauthenticated"
    ckan_type = "Authorization Error"


class NotFound(Problem):
    status = 404
    code = "not_found"
    ckan_type = "Not Found Error"


class MethodNotAllowed(Problem):
    status = 405
    code = "method_not_allowed"
    ckan_type = "Method Not Allowed"


class Invalid(Problem):
    """A well-formed request whose values do not fit (CKAN's 409 Validation Error)."""

    status = 409
    code = "invalid"
    ckan_type = "Validation Error"


class Unavailable(Problem):
    """Something the answer needs is busy or down for now: try again."""

    status = 503
    code = "unavailable"
    ckan_type = "Service Unavailable"
    transient = True


ROUTER_WORDS = {
    "Not Found": "Không tìm thấy / Not found",
    "Method Not Allowed": "Phương thức không được phép / Method not allowed",
}


def problem_of(exc: BaseException) -> Problem:
    """The one place an error becomes an HTTP answer: a Problem stays itself, a request FastAPI
    could not parse is a bad request naming the parameter, a transient hub error is 503 (the
    release store's with a generic message: its own names internal hosts and keys), and
    anything else is a 500 that says no more than that (the log has the rest)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        name = str(first.get("loc", ["", "request"])[-1])
        return BadRequest(f"{name}: {first.get('msg', 'invalid')}", field=name)
    if isinstance(exc, HTTPException):  # the router's own answers: no such path, wrong method, bad credentials
        known: dict[int, type[Problem]] = {401: Unauthenticated, 404: NotFound, 405: MethodNotAllowed}
        detail = str(exc.detail)
        detail = ROUTER_WORDS.get(detail, detail)  # Starlette's own words, in both languages
        problem = known.get(exc.status_code, BadRequest if exc.status_code < 500 else Problem)(detail)
        problem.status = exc.status_code
        return problem
    if isinstance(exc, StoreError):  # its message names the bucket, keys and endpoint: the log's, not the public's
        log.error("%s", exc)
        return Unavailable(STORE_DOWN)
    if isinstance(exc, LgspError) and exc.transient:
        return Unavailable(exc.message)
    return Problem("internal error")


Render = Callable[[Request, Problem], Awaitable[Response]]


def install(app: FastAPI, renderers: dict[str, Render], default: Render) -> None:
    """Route every error of `app` through `problem_of`, then to the envelope of the API whose path
    prefix it was raised under (`default` for the rest). Outside those APIs, a request FastAPI
    could not parse keeps FastAPI's own 422 answer, and the router's 404 and 405 theirs (but a
    browser's, asking for HTML, goes to `default`, which shows it a page)."""

    def chosen(request: Request) -> Render | None:
        return next((render for prefix, render in renderers.items() if request.url.path.startswith(prefix)), None)

    async def on_problem(request: Request, exc: Exception) -> Response:
        return await (chosen(request) or default)(request, problem_of(exc))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        render = chosen(request)
        if render is None:
            return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
        return await render(request, problem_of(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        render = chosen(request)
        if render is None and "text/html" in request.headers.get("accept", ""):
            render = default  # a browser on a path that does not exist: the default's page
        if render is None:
            return await http_exception_handler(request, exc)  # type: ignore[arg-type]
        return await render(request, problem_of(exc))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StoreError, on_problem)  # a replica's store down: 503, not a bare 500
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)
