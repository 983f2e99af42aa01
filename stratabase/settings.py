"""Configuration, read from ``STRATABASE_*`` environment variables.

Built once at an entry point (CLI callback, ``create_app``) and passed down; nothing in the
package reads the environment on its own. A bad value raises :class:`ConfigError` whose
message is one line naming the variable.
"""

from __future__ import annotations

import logging
import secrets
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from stratabase.exceptions import ConfigError

ENV_PREFIX = "STRATABASE_"

Backend = Literal["sqlite", "postgres"]

_ASYNC_DRIVERS: dict[str, tuple[Backend, str]] = {
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "sqlite+aiosqlite": ("sqlite", "sqlite+aiosqlite"),
    "sqlite+pysqlite": ("sqlite", "sqlite+aiosqlite"),
    "postgres": ("postgres", "postgresql+asyncpg"),
    "postgresql": ("postgres", "postgresql+asyncpg"),
    "postgresql+asyncpg": ("postgres", "postgresql+asyncpg"),
    "postgresql+psycopg": ("postgres", "postgresql+asyncpg"),
    "postgresql+psycopg2": ("postgres", "postgresql+asyncpg"),
}


def async_database_url(url: str) -> tuple[Backend, str]:
    """Map the URL a user writes to (backend, URL with our async driver)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc
    known = _ASYNC_DRIVERS.get(parsed.drivername)
    if known is None:
        raise ValueError(
            f"unsupported scheme {parsed.drivername!r}; use sqlite:///PATH or postgresql://…"
        )
    backend, driver = known
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("SQLite needs a file path (sqlite:///./stratabase.db), not :memory:")
    return backend, parsed.set(drivername=driver).render_as_string(hide_password=False)


class Settings(BaseSettings):
    """Everything an operator can set. Defaults give the zero-config embedded mode."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = "sqlite:///./stratabase.db"
    #: Empty means embedded: in-process cache, broker and worker.
    redis_url: str = ""
    #: Prefix of every Redis key we write, so deployments (and test runs) can share a server.
    redis_prefix: str = Field(default="sb:", max_length=64)

    pool_min_size: int = Field(default=1, ge=0, le=1000)
    pool_max_size: int = Field(default=10, ge=1, le=1000)
    pool_acquire_timeout: float = Field(default=10.0, gt=0, description="seconds")
    pool_idle_timeout: float = Field(default=300.0, gt=0, description="seconds")
    statement_timeout_ms: int = Field(default=30_000, ge=0)
    #: Statements slower than this are counted as slow and logged at WARNING.
    slow_query_ms: float = Field(default=100.0, gt=0)
    #: Statements slower than this (and not slow) are logged at INFO.
    warn_query_ms: float = Field(default=50.0, gt=0)
    #: Bounded retries of a transaction on serialization failure, deadlock or SQLITE_BUSY.
    transaction_retries: int = Field(default=5, ge=0, le=50)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Signs webhooks and cursors. Unset: ``serve``/``up`` generate one and keep it (beside
    #: the SQLite file, or in the PostgreSQL database), see ``stratabase/secret_key.py``.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    #: Jobs: slots per worker process, lease length, idle poll, retention of finished jobs.
    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    job_lease_seconds: float = Field(default=30.0, ge=0.5, le=86_400)
    job_poll_interval: float = Field(default=1.0, gt=0, le=3600)
    job_retention_days: float = Field(default=7.0, gt=0)
    #: Let the crawler fetch private, loopback and link-local addresses (tests, intranets).
    crawl_allow_private: bool = False

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        async_database_url(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_pool_and_thresholds(self) -> Settings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("STRATABASE_POOL_MIN_SIZE must not exceed STRATABASE_POOL_MAX_SIZE")
        if self.warn_query_ms > self.slow_query_ms:
            raise ValueError("STRATABASE_WARN_QUERY_MS must not exceed STRATABASE_SLOW_QUERY_MS")
        return self

    @property
    def backend(self) -> Backend:
        return async_database_url(self.database_url)[0]

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)[1]

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: cache, broker and worker live in-process."""
        return not self.redis_url

    @property
    def secret_key_configured(self) -> bool:
        """True when the key was given (environment or argument), not generated here."""
        return "secret_key" in self.model_fields_set

    @property
    def log_level_number(self) -> int:
        return logging.getLevelName(self.log_level)  # type: ignore[no-any-return]


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and overrides), or raise a one-line ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        location = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not location:
            raise ConfigError(message) from exc
        variable = ENV_PREFIX + location[0].upper()
        raise ConfigError(f"{variable}: {message}", field=variable) from exc
