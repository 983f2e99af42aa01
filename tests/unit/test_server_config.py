"""How ``serve`` configures uvicorn and how many processes it starts (no server runs here;
tests/acceptance/test_serve_workers.py runs them)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from stratabase.api.server import cores, server_config, worker_count
from stratabase.exceptions import ConfigError
from stratabase.settings import load_settings

PG = "postgresql://postgres@127.0.0.1/x"
REDIS = "redis://127.0.0.1:6379/0"


def test_the_server_runs_on_uvloop_and_httptools_without_an_access_log() -> None:
    config = server_config(FastAPI(), load_settings(redis_url=""), "127.0.0.1", 8000)
    assert (config.loop, config.http) == ("uvloop", "httptools")
    assert config.access_log is False
    assert config.proxy_headers is False and config.server_header is False


def test_the_access_log_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATABASE_ACCESS_LOG", "1")
    config = server_config(FastAPI(), load_settings(redis_url=""), "127.0.0.1", 8000)
    assert config.access_log is True


@pytest.mark.parametrize(
    ("database_url", "redis_url", "expected"),
    [
        ("sqlite:///./x.db", "", 1),
        ("sqlite:///./x.db", REDIS, 1),  # an SQLite file takes one writer
        (PG, "", 1),  # the in-process cache cannot be shared
        (PG, REDIS, cores()),
    ],
)
def test_the_default_is_one_per_core_only_with_postgres_and_redis(
    database_url: str, redis_url: str, expected: int
) -> None:
    settings = load_settings(database_url=database_url, redis_url=redis_url)
    assert worker_count(settings) == expected


def test_workers_come_from_the_option_then_the_setting() -> None:
    settings = load_settings(database_url=PG, redis_url=REDIS, workers=3)
    assert worker_count(settings) == 3
    assert worker_count(settings, 5) == 5


@pytest.mark.parametrize(("database_url", "redis_url"), [("sqlite:///./x.db", REDIS), (PG, "")])
def test_more_than_one_embedded_is_a_config_error(database_url: str, redis_url: str) -> None:
    settings = load_settings(database_url=database_url, redis_url=redis_url)
    assert worker_count(settings, 1) == 1
    with pytest.raises(ConfigError, match="--workers 2 needs PostgreSQL and Redis"):
        worker_count(settings, 2)
    with pytest.raises(ConfigError, match="STRATABASE_WORKERS=4 needs"):
        worker_count(load_settings(database_url=database_url, redis_url=redis_url, workers=4))
