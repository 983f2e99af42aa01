"""The ASGI entry point for servers other than ``stratabase serve``.

Settings come from the ``STRATABASE_*`` environment, as for every command::

    uvicorn --factory stratabase.asgi:create_app_from_env --workers 4 --no-access-log
    gunicorn -k uvicorn_worker.UvicornWorker -w 4 'stratabase.asgi:create_app_from_env()'

Each process (each server worker) builds its own app and composition root; at startup
(the ASGI lifespan) it opens the database pool, refuses a database that is not migrated to
head, and resolves the secret key the way ``serve`` does (one key per database when
``STRATABASE_SECRET_KEY`` is unset). Migrating, seeding and warming are not done here: run
``stratabase migrate`` once before starting the server. Several processes need PostgreSQL
and Redis, as for ``serve --workers``; the server's own options (workers, loop, HTTP
parser, access log, proxy headers) are the server's to set: leave its proxy-header
handling off and list your proxies in ``STRATABASE_TRUSTED_PROXIES`` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stratabase.settings import Settings

__all__ = ["create_app_from_env", "serving_app"]


def serving_app(settings: Settings) -> FastAPI:
    """The API as a server process runs it: it opens its root at startup, checks the
    schema, resolves the secret key (:meth:`Stratabase.ready`) and closes at shutdown."""
    from stratabase.api.app import build_api
    from stratabase.app import Stratabase

    return build_api(Stratabase(settings), owned=True, ready=True)


def create_app_from_env() -> FastAPI:
    """An app factory for ``uvicorn --factory`` and gunicorn: settings from the environment
    (a bad one raises ConfigError naming the variable)."""
    from stratabase.settings import load_settings

    return serving_app(load_settings())
