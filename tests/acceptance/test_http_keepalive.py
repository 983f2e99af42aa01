"""A 500 is an answer, not a dropped connection: a real uvicorn server, one keep-alive client."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from stratabase.api.app import create_app
from stratabase.cache import memory_cache
from stratabase.settings import load_settings
from tests.faults_support import free_port


def _app(tmp_path: Path) -> FastAPI:
    settings = load_settings(redis_url="", database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    app = create_app(settings, cache=memory_cache())

    async def boom() -> None:
        raise RuntimeError("secret detail that must not leak")

    async def peer(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    app.add_api_route("/test/boom", boom)
    app.add_api_route("/test/peer", peer)
    return app


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        _app(tmp_path), host="127.0.0.1", port=port, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def test_a_500_keeps_the_connection(base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    with httpx.Client(base_url=base_url, limits=httpx.Limits(max_connections=1)) as client:
        first = client.get("/test/peer")
        boom = client.get("/test/boom")
        after = client.get("/test/peer")
    assert boom.status_code == 500
    assert boom.headers["content-type"].startswith("application/problem+json")
    assert boom.json()["detail"] == "internal error"
    assert "secret" not in boom.text and "Traceback" not in boom.text
    assert boom.headers.get("connection", "").lower() != "close"
    assert after.status_code == 200
    assert after.json()["port"] == first.json()["port"], "the connection was dropped"
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1, [record.getMessage() for record in tracebacks]
    assert tracebacks[0].name == "stratabase.api"
