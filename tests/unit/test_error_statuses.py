"""Every domain error reaching a route becomes its own status, never an anonymous 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from stratabase.api.errors import install_error_handlers, status_for
from stratabase.cache.errors import CacheError, CacheUnavailable
from stratabase.exceptions import (
    ConfigError,
    ConstraintRefused,
    DatabaseReadOnly,
    MigrationError,
    StratabaseError,
)
from stratabase.jobs.errors import JobError, PermanentJobError, UnknownTask

CASES: list[tuple[StratabaseError, int, str]] = [
    (UnknownTask("no task named 'x' is registered", field="task"), 422, "unknown-task"),
    (PermanentJobError("page answered 404"), 422, "job-failed-permanently"),
    (JobError("the job could not be run"), 422, "job-error"),
    (CacheError("Redis refused the command"), 503, "cache"),
    (CacheUnavailable("circuit open"), 503, "cache-unavailable"),
    (MigrationError("the database is at revision 0003, not 0009"), 503, "migration"),
    (ConfigError("STRATABASE_SECRET_KEY: too short", field="STRATABASE_SECRET_KEY"), 500, "config"),
    (DatabaseReadOnly("read-only file"), 503, "database-read-only"),
    (ConstraintRefused("refused by ck_x", constraint="ck_x"), 409, "constraint"),
]


def _app(error: StratabaseError) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=lambda v: type(v).__name__)
async def test_domain_error_maps_to_its_status(
    error: StratabaseError, status: int, code: str
) -> None:
    transport = httpx.ASGITransport(app=_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/" + code) and body["status"] == status


async def test_operator_messages_stay_in_the_log() -> None:
    """A migration or configuration error names revisions and settings: the client gets a
    plain sentence, the operator the message."""
    for error, detail in (
        (MigrationError("at revision 0003, not 0009: run `stratabase migrate`"), "not migrated"),
        (ConfigError("STRATABASE_SECRET_KEY: too short", field="STRATABASE_SECRET_KEY"), "misconf"),
    ):
        transport = httpx.ASGITransport(app=_app(error))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = (await http.get("/boom")).json()
        assert detail in body["detail"]
        assert "0003" not in str(body) and "SECRET_KEY" not in str(body)


def _subclasses(cls: type[StratabaseError]) -> set[type[StratabaseError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_domain_error_class_has_a_status() -> None:
    """Only a bad setting (and the bare root, for a bug) is a 500; every other error the
    package defines answers with its own status."""
    import stratabase.db.session
    import stratabase.jobs.tasks.crawl
    import stratabase.jobs.tasks.episodes
    import stratabase.seed.theme
    import stratabase.studio.session  # noqa: F401  (they define subclasses)

    classes = _subclasses(StratabaseError)
    assert len(classes) >= 20
    for cls in classes - {ConfigError}:
        assert status_for(cls("x")) != 500, cls.__name__
