"""The HTTP server's settings: uvicorn, as ``serve`` and ``up`` run it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from stratabase.settings import Settings


def server_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings for the API. Its proxy handling is off: by default it believes
    ``X-Forwarded-For`` from 127.0.0.1, so any local client could pick the IP our rate limits
    count; the app reads the header itself, from ``STRATABASE_TRUSTED_PROXIES`` only."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        forwarded_allow_ips=[],
        server_header=False,  # do not announce the server and its version
        timeout_graceful_shutdown=5,  # open change streams would hold a shutdown forever
    )
