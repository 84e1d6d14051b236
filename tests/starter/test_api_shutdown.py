"""Shutting down, the API answers JSON 503 `shutting_down`, never uvicorn's plain-text 500: a
request still in flight when the grace period ends (a real uvicorn server, stopped the way a
SIGTERM stops it), and a request that arrives once the server is stopping (in process)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from starter.api import create_app
from starter.api.shutdown import ApiServer, mark_shutting_down
from tests.helpers import eventually, free_port
from tests.starter.test_bad_input import down_database, no_temporal, settings


class SlowRoute:
    """A route that waits until released (or cancelled): an acknowledge whose update blocks."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    async def __call__(self) -> dict[str, str]:
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return {"done": "yes"}


@pytest.fixture
def server() -> Iterator[tuple[ApiServer, str, SlowRoute]]:
    app = create_app(settings(down_database), no_temporal)
    slow = SlowRoute()
    app.add_api_route("/test/slow", slow)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", timeout_graceful_shutdown=0.5)
    api = ApiServer(config)
    thread = threading.Thread(target=api.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not api.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    yield api, f"http://127.0.0.1:{port}", slow
    slow.release.set()
    api.should_exit = True
    thread.join(10)


async def test_a_request_in_flight_at_shutdown_gets_a_json_503(server: tuple[ApiServer, str, SlowRoute]) -> None:
    api, url, slow = server
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        pending = asyncio.create_task(http.get("/test/slow"))

        async def entered() -> bool:
            return slow.entered.is_set()

        await eventually(entered)
        api.handle_exit(signal.SIGTERM, None)  # what uvicorn's SIGTERM handler calls
        response = await asyncio.wait_for(pending, 20)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "shutting_down",
        "detail": "the API is shutting down; retry in a moment (or on another instance)",
    }


async def test_a_request_once_the_server_is_stopping_gets_a_json_503() -> None:
    app = create_app(settings(down_database), no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        assert (await http.get("/openapi.json")).status_code == 200
        mark_shutting_down(app)
        response = await http.get("/openapi.json")
    assert response.status_code == 503 and response.json()["error"] == "shutting_down"
    assert response.headers["connection"] == "close"
