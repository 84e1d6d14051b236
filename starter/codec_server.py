"""The codec server: lets the Temporal Web UI show encrypted payloads.

It speaks the UI's "remote codec endpoint" protocol: `POST /decode` and `POST /encode` with the JSON
body `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}` (Payload protos in
proto JSON), answering the same shape. The UI adds an `X-Namespace` header; every request must carry
`Authorization: Bearer $RECOVERY_CODEC_TOKEN`. The browser calls it cross-origin, so preflights are
answered for the UI's origin (`--cors-origin`, default http://localhost:8233) with credentials allowed.
A request that carries any other `Origin` is refused with 403 before the token is even looked at: a
page on a foreign site must not be able to use a token it got hold of, whatever the browser's CORS
enforcement does (non-browser clients such as the `temporal` CLI send no Origin and are unaffected).

Point the UI at it: Settings → Codec Server, or the dev server's `--ui-codec-endpoint`.
Keys come from RECOVERY_CODEC_KEYS / RECOVERY_CODEC_KEY_ID (see recovery/codec.py).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from recovery.codec import KEYS_ENV, CodecConfigError, codec_from_env

DEFAULT_CORS_ORIGIN = "http://localhost:8233"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888
TOKEN_ENV = "RECOVERY_CODEC_TOKEN"
MAX_BODY_BYTES = 16 * 1024 * 1024  # a history's payloads come in one request; keep it bounded anyway


def create_codec_app(codec: PayloadCodec, token: str, cors_origin: str = DEFAULT_CORS_ORIGIN) -> FastAPI:
    """The codec server as an ASGI app. `token` is the bearer token every POST must carry."""
    if not token:
        raise CodecConfigError("the codec server needs a bearer token")
    expected = f"Bearer {token}".encode()
    cors = {
        "Access-Control-Allow-Origin": cors_origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }
    preflight = {
        **cors,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, X-Namespace, Authorization",
        "Access-Control-Max-Age": "600",
    }

    app = FastAPI(title="service-recovery codec server", version="1", docs_url=None, redoc_url=None, openapi_url=None)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=cors)

    def foreign(request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is not None and origin.rstrip("/") != cors_origin.rstrip("/")

    def refuse_origin(request: Request) -> JSONResponse:
        # No CORS headers: the foreign page learns nothing, not even the allowed origin.
        return JSONResponse({"error": f"origin {request.headers.get('origin')!r} is not allowed"}, status_code=403)

    async def handle(request: Request, encode: bool, path_token: str | None = None) -> Response:
        if foreign(request):
            return refuse_origin(request)
        given = request.headers.get("authorization", "").encode()
        if path_token is not None:
            # The stock Web UI can't add a fixed Authorization header; it can call an endpoint whose
            # path carries the token (`--ui-codec-endpoint http://host:port/t/<token>`).
            given = f"Bearer {path_token}".encode()
        if not hmac.compare_digest(given, expected):
            return error(401, "missing or wrong bearer token")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            payloads = _parse_payloads(body)
        except BadBody as err:
            return error(400, str(err))
        try:
            result = await (codec.encode(payloads) if encode else codec.decode(payloads))
        except ValueError as err:
            return error(400, str(err))
        return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in result]}, headers=cors)

    @app.post("/encode", include_in_schema=False)
    async def encode(request: Request) -> Response:
        return await handle(request, encode=True)

    @app.post("/decode", include_in_schema=False)
    async def decode(request: Request) -> Response:
        return await handle(request, encode=False)

    @app.post("/t/{path_token}/encode", include_in_schema=False)
    async def encode_with_path_token(path_token: str, request: Request) -> Response:
        return await handle(request, encode=True, path_token=path_token)

    @app.post("/t/{path_token}/decode", include_in_schema=False)
    async def decode_with_path_token(path_token: str, request: Request) -> Response:
        return await handle(request, encode=False, path_token=path_token)

    @app.options("/encode", include_in_schema=False)
    @app.options("/decode", include_in_schema=False)
    @app.options("/t/{path_token}/encode", include_in_schema=False)
    @app.options("/t/{path_token}/decode", include_in_schema=False)
    async def options(request: Request) -> Response:
        if foreign(request):
            return refuse_origin(request)
        return Response(status_code=200, headers=preflight)

    return app


class BadBody(Exception):
    """The request body is not `{"payloads": [<Payload proto JSON>...]}`."""


def _parse_payloads(body: bytes) -> list[Payload]:
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadBody(f"body is not JSON: {err}") from None
    items = data.get("payloads") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BadBody('body must be {"payloads": [...]}')
    payloads = []
    for n, item in enumerate(items):
        try:
            payloads.append(json_format.ParseDict(item, Payload()))
        except (json_format.ParseError, TypeError, AttributeError) as err:
            raise BadBody(f"payloads[{n}] is not a Payload: {err}") from None
    return payloads


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    cors_origin: str = DEFAULT_CORS_ORIGIN,
    env: Mapping[str, str] = os.environ,
) -> None:
    """Run the codec server until interrupted. Raises CodecConfigError (a ValueError) when the keys
    (RECOVERY_CODEC_KEYS) or the token (RECOVERY_CODEC_TOKEN) are missing or malformed."""
    import uvicorn

    codec = codec_from_env(env)
    if codec is None:
        raise CodecConfigError(f"no payload keys: set {KEYS_ENV}=id:base64key[,id:base64key...]")
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise CodecConfigError(f"no bearer token: set {TOKEN_ENV} (the UI must send it as Authorization: Bearer ...)")
    uvicorn.run(create_codec_app(codec, token, cors_origin), host=host, port=port, log_level="warning")
