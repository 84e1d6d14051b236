"""The API's error model: every error is JSON `{error, detail}` with a fitting status, never a 500
for client input and never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recovery.validation import describe_problems
from starter.server_errors import CaseError

log = logging.getLogger("recovery.api")


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable kind, e.g. out_of_order, unauthorized, validation")
    detail: str = Field(description="what went wrong, for people")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


CASE_ERROR_STATUS = {
    # A refused step's kind → its HTTP status (the API's answers and the console's inline refusals).
    "out_of_order": 409,
    "closed": 409,
    "conflict": 409,
    "not_ready": 409,
    "forbidden": 403,
    "invalid": 422,
    "not_found": 404,
    "unavailable": 503,
}


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "malformed JSON",
        401: "missing or bad token or signature",
        403: "not allowed for this agent",
        404: "unknown case or webhook source",
        409: "step out of order, or case closed",
        413: "body over the size limit",
        422: "invalid input",
        429: "over a rate limit (per token, per intake source); see Retry-After",
        503: "Temporal unreachable",
    }.items()
}


def install_error_handlers(app: FastAPI) -> None:
    """Every error as `{error, detail}`: ours, the engine's refusals, validation and HTTP (the
    unexpected ones: `CatchAll`)."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, err: ApiError) -> JSONResponse:
        return error_response(err.status, err.error, err.detail)

    @app.exception_handler(CaseError)
    async def _case_error(_: Request, err: CaseError) -> JSONResponse:
        return error_response(CASE_ERROR_STATUS.get(err.code, 409), err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = err.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(400, "bad_request", "body is not valid JSON")
        return error_response(422, "validation", describe_problems(problems, skip=("body",), top="body"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        names = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return error_response(err.status_code, names.get(err.status_code, "http_error"), str(err.detail))


class CatchAll:
    """ASGI middleware, outermost of ours: an unexpected error becomes a JSON 500 here. (Starlette's
    own last-resort handler re-raises after answering, and the server then drops the keep-alive
    connection: every client behind a pool would pay a reconnect for one bad request.)"""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as err:
            log.exception("unexpected error", exc_info=err)
            if started:
                raise  # half a response is out: only dropping the connection tells the client
            response = error_response(500, "internal", "unexpected server error; the request may be retried")
            await response(scope, receive, send)
