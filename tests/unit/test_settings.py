"""Settings: the URLs users write work; bad values fail with one line naming the variable."""

from __future__ import annotations

import pytest

from stratabase.exceptions import ConfigError
from stratabase.settings import load_settings


@pytest.mark.parametrize(
    ("url", "backend", "driver_url"),
    [
        ("sqlite:///./stratabase.db", "sqlite", "sqlite+aiosqlite:///./stratabase.db"),
        ("sqlite:////abs/path.db", "sqlite", "sqlite+aiosqlite:////abs/path.db"),
        ("postgresql://user@host/db", "postgres", "postgresql+asyncpg://user@host/db"),
        ("postgres://u:p@h:5433/db", "postgres", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgres", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(url: str, backend: str, driver_url: str) -> None:
    settings = load_settings(database_url=url)
    assert settings.backend == backend
    assert settings.async_database_url == driver_url


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRATABASE_DATABASE_URL", "STRATABASE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.backend == "sqlite"
    assert settings.embedded
    assert settings.slow_query_ms == 100


def test_environment_is_read_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATABASE_POOL_MAX_SIZE", "42")
    monkeypatch.setenv("STRATABASE_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("STRATABASE_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.pool_max_size == 42
    assert not settings.embedded
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("STRATABASE_POOL_MAX_SIZE", "lots", "STRATABASE_POOL_MAX_SIZE:"),
        ("STRATABASE_DATABASE_URL", "mysql://h/db", "STRATABASE_DATABASE_URL: unsupported scheme"),
        ("STRATABASE_DATABASE_URL", "sqlite:///:memory:", "STRATABASE_DATABASE_URL: SQLite needs"),
        ("STRATABASE_REDIS_URL", "http://x", "STRATABASE_REDIS_URL: must start with redis://"),
        ("STRATABASE_SLOW_QUERY_MS", "-5", "STRATABASE_SLOW_QUERY_MS:"),
        ("STRATABASE_POOL_MIN_SIZE", "50", "STRATABASE_POOL_MIN_SIZE must not exceed"),
        ("STRATABASE_LOG_LEVEL", "LOUD", "STRATABASE_LOG_LEVEL:"),
    ],
)
def test_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert says in caught.value.message
    assert "\n" not in caught.value.message


def test_secret_key_is_never_printed() -> None:
    settings = load_settings(secret_key="hunter2-hunter2")
    assert "hunter2" not in repr(settings)
    assert settings.secret_key.get_secret_value() == "hunter2-hunter2"
