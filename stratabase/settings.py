"""Configuration, read from ``STRATABASE_*`` environment variables.

Built once at an entry point (CLI callback, ``create_app``) and passed down; nothing in the
package reads the environment on its own. A bad value raises :class:`ConfigError` whose
message is one line naming the variable.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import secrets
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from stratabase.exceptions import ConfigError

ENV_PREFIX = "STRATABASE_"

Backend = Literal["sqlite", "postgres"]
ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


@functools.cache
def parse_proxy_networks(value: str) -> tuple[ProxyNetwork, ...]:
    """``"10.0.0.5, 10.1.0.0/16"`` as networks (an address is a /32 or /128); a bad entry
    is a ValueError naming it. Cached: the client IP is computed on every request."""
    networks: list[ProxyNetwork] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def check_rate_limit(value: str) -> str:
    """One ``limits`` rate ("10/minute", "5 per second"), or "" when disabled ("" or "0")."""
    value = value.strip()
    if value in ("", "0"):
        return ""
    from limits import parse_many  # only for a value set by hand: `limits` costs 60 ms

    try:
        items = parse_many(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate: write it like 10/minute or 5 per second "
            '(empty or "0" disables)'
        ) from None
    if len(items) != 1:
        raise ValueError(f"{value!r}: give one rate per scope, like 10/minute")
    if items[0].amount < 1:
        raise ValueError(f'{value!r}: the amount must be at least 1 (empty or "0" disables)')
    return value


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
    #: ``json``: one JSON object per log line, with the request id (docs/observability.md).
    log_format: Literal["text", "json"] = "text"
    #: ``GET /metrics`` answers this bearer token (or an administrator's); unset: admins only.
    metrics_token: SecretStr | None = None
    #: Record slow statements (over ``slow_query_ms``) in ``query_logs``.
    slow_query_log: bool = True
    #: At most this many slow statements recorded per second per process; the rest dropped.
    slow_query_log_rate: int = Field(default=10, ge=1, le=10_000)
    #: Records waiting to be written, at most (per process); beyond, dropped.
    slow_query_log_buffer: int = Field(default=1000, ge=1, le=1_000_000)
    #: ``maintenance.prune`` deletes slow-query records older than this.
    slow_query_log_retention_days: float = Field(default=7.0, gt=0)
    #: OpenTelemetry traces (``otlp`` or ``console``; needs the ``otel`` extra); empty: off.
    otel_exporter: Literal["", "otlp", "console"] = ""
    otel_service_name: str = Field(default="stratabase", max_length=200)
    #: Seconds ``/health/stats`` keeps its counts.
    health_stats_ttl: float = Field(default=5.0, ge=0, le=3600)
    #: Signs webhooks and cursors. Unset: ``serve``/``up`` generate one and keep it (beside
    #: the SQLite file, or in the PostgreSQL database), see ``stratabase/secret_key.py``.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: HTTP server processes for ``serve``/``up`` (``--workers``); 0: one per core with
    #: PostgreSQL + Redis, 1 embedded (its in-process cache cannot be shared).
    workers: int = Field(default=0, ge=0, le=512)
    #: One log line per request (uvicorn's access log). Off by default: at thousands of
    #: requests a second it costs more CPU than a cached answer does.
    access_log: bool = False
    #: FastAPI's OpenTelemetry spans and metrics per request (needs an OpenTelemetry SDK
    #: configured in the process). Off: no per-request telemetry work at all.
    telemetry: bool = False

    #: Jobs: slots per worker process, lease length, idle poll, retention of finished jobs.
    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    job_lease_seconds: float = Field(default=30.0, ge=0.5, le=86_400)
    job_poll_interval: float = Field(default=1.0, gt=0, le=3600)
    job_retention_days: float = Field(default=7.0, gt=0)
    #: Let the crawler fetch private, loopback and link-local addresses (tests, intranets).
    crawl_allow_private: bool = False

    #: Change feed (docs/changes.md): SSE heartbeat, outbox retention, relay poll when no
    #: wake-up came, events queued per subscriber before it gets ``resync``, long-poll cap.
    changes_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)
    changes_retention_days: float = Field(default=7.0, gt=0)
    changes_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    changes_queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    changes_max_wait_seconds: float = Field(default=30.0, ge=0, le=3600)

    #: HTTP: largest request body accepted (413 beyond), counted while it is read.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=1_073_741_824)
    #: Media: uploads larger than this are refused (413) while streamed, nothing stored.
    media_max_bytes: int = Field(default=52_428_800, ge=1024, le=1_099_511_627_776)
    #: Media: images with more pixels than this are refused (decompression-bomb guard).
    media_max_pixels: int = Field(default=40_000_000, ge=1, le=1_000_000_000)
    #: Media: the filesystem store's directory (empty: ``media/`` beside the SQLite file,
    #: else ``./stratabase-media``).
    media_dir: str = ""
    #: Media: an S3-compatible store instead of the filesystem when the bucket is set
    #: (``pip install stratabase[s3]``).
    media_s3_bucket: str = ""
    media_s3_endpoint_url: str = ""
    media_s3_region: str = "us-east-1"
    media_s3_access_key: str = ""
    media_s3_secret_key: SecretStr = SecretStr("")
    media_s3_prefix: str = ""
    #: HTTP: CORS is off while no origin is listed (comma-separated; ``*`` for any).
    cors_origins: str = ""
    cors_methods: str = "GET,HEAD,POST,PUT,PATCH,DELETE"
    cors_headers: str = "Authorization,Content-Type,Idempotency-Key"
    cors_credentials: bool = False
    #: HTTP: show pool and query statistics on ``/health/db`` to everyone, not only admins.
    health_details: bool = False
    #: Peers whose ``X-Forwarded-For`` is believed (comma-separated IPs or CIDRs). Empty:
    #: nobody's, so a client cannot choose the IP that rate limits count and sessions record.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        parse_proxy_networks(value)
        return value

    #: Rate limits per scope in ``limits`` notation ("10/minute"); empty or "0" disables.
    rate_limit_auth: str = "10/minute"
    rate_limit_write: str = "120/minute"
    rate_limit_read: str = "1200/minute"
    #: Sign-in attempts per account, whatever the IPs; a successful sign-in clears the count.
    rate_limit_login: str = "10 per 15 minutes"
    #: Moderation reports filed per user.
    rate_limit_report: str = "20/hour"

    #: Moderation: open reports (distinct reporters) that hide a post or comment pending
    #: review (0: never automatically); how long a moderator's claim on a report lasts.
    moderation_auto_hide_reports: int = Field(default=3, ge=0, le=10_000)
    moderation_claim_seconds: float = Field(default=900.0, ge=1, le=86_400)

    #: Account mail (reset, verification): SMTP when ``smtp_host`` is set, else the embedded
    #: mailer appends each message as a JSON line to ``mail_file`` (or prints it to stdout).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    mail_from: str = "Stratabase <no-reply@localhost>"
    mail_file: str = ""
    #: Lifetimes of mailed tokens: password reset, email verification.
    reset_token_minutes: float = Field(default=30.0, gt=0, le=10_080)
    verify_token_hours: float = Field(default=48.0, gt=0, le=8_760)

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

    @model_validator(mode="after")
    def _check_cors(self) -> Settings:
        if self.cors_credentials and "*" in split_list(self.cors_origins):
            raise ValueError(
                "STRATABASE_CORS_CREDENTIALS needs explicit STRATABASE_CORS_ORIGINS, not '*'"
            )
        return self

    @field_validator("*", mode="before")
    @classmethod
    def _check_rate_limit(cls, value: object, info: ValidationInfo) -> object:
        # Every ``rate_limit_<scope>`` field: a new scope is one line above, no more.
        if isinstance(value, str) and str(info.field_name).startswith("rate_limit_"):
            if value == cls.model_fields[str(info.field_name)].default:
                return value  # ours, checked by tests/unit: spare every command `limits`
            return check_rate_limit(value)
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
        """``sqlite`` or ``postgres``, from the database URL."""
        return async_database_url(self.database_url)[0]

    @property
    def async_database_url(self) -> str:
        """The database URL with its async driver (aiosqlite, asyncpg)."""
        return async_database_url(self.database_url)[1]

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: cache, broker and worker live in-process."""
        return not self.redis_url

    @property
    def trusted_proxy_networks(self) -> tuple[ProxyNetwork, ...]:
        """The proxies whose X-Forwarded-For is believed, parsed."""
        return parse_proxy_networks(self.trusted_proxies)

    @property
    def secret_key_configured(self) -> bool:
        """True when the key was given (environment or argument), not generated here."""
        return "secret_key" in self.model_fields_set

    @property
    def log_level_number(self) -> int:
        """``log_level`` as the logging module's number."""
        return logging.getLevelName(self.log_level)  # type: ignore[no-any-return]


def split_list(value: str) -> list[str]:
    """A comma-separated setting as a list, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


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
