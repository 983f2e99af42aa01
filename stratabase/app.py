"""``Stratabase``: the composition root. Everything a process needs, built once from settings.

The HTTP app (``create_app``), each CLI command, the worker and library code start here:

    async with Stratabase(settings) as sb:
        await sb.ledger.credit(user_id, 100, reason="welcome")
        print(await sb.ledger.wallet(user_id))

Nothing connects while the object is built; ``open()`` warms the database pool and
``close()`` releases what the object owns (a database or cache passed in stays the
caller's). Routes get their services from here (``api/deps.py``), never build them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from stratabase.db.session import Database
from stratabase.settings import Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stratabase.accounts.service import AccountService
    from stratabase.cache import Cache
    from stratabase.changes.feed import ChangeFeed
    from stratabase.jobs.registry import Registry
    from stratabase.jobs.service import JobService
    from stratabase.ledger.payments import PaymentService
    from stratabase.ledger.service import LedgerService
    from stratabase.ledger.values import WalletHook
    from stratabase.media.service import MediaService
    from stratabase.moderation.service import ModerationService
    from stratabase.observability import Observability
    from stratabase.pagination import CursorCodec
    from stratabase.ratelimit import RateLimiter, RateLimits

#: Where ``up`` reports its progress (the CLI passes its console).
Say = Callable[[str], object]


class Stratabase:
    """The database, cache, rate limiter, ledger (and its batcher), payments and job queue
    of one process, wired together. Pass ``database`` or ``cache`` to share ones you own.

    Each service is built on first use, here and only here, so a CLI command that needs
    the ledger imports and builds neither the cache nor the rate limiter.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        cache: Cache | None = None,
        rate_limits: RateLimits | None = None,
        limiter: RateLimiter | None = None,
        ledger_hooks: Iterable[WalletHook] = (),
        job_registry: Registry | None = None,
        webhook_secrets: Mapping[str, str] | None = None,
        bind_cache: bool = True,
    ) -> None:
        self.settings = settings
        self._owns_db = database is None
        self._owns_cache = cache is None
        self._owns_limiter = limiter is None
        self.db = database if database is not None else Database(settings)
        self._given: dict[str, Any] = {"cache": cache, "limiter": limiter}
        self._rate_limits = rate_limits
        self._ledger_hooks = list(ledger_hooks)
        self._job_registry = job_registry
        self._webhook_secrets = dict(webhook_secrets or {})
        #: False for a tool that inspects the shared cache from outside (``stratabase
        #: cache``): it must not read or create the database to do so.
        self._bind_cache = bind_cache
        self._opened = False

    # --- the services, each built once --------------------------------------------------

    @functools.cached_property
    def cache(self) -> Cache:
        """In-process, or two tiers over Redis; bound to this database (CLI changes seen,
        no invalidation lost to a process death)."""
        from stratabase.cache import SmartCache, build_cache

        cache: Cache = self._given["cache"] or build_cache(self.settings)
        if isinstance(cache, SmartCache) and self._bind_cache:
            cache.bind(self.db)
        return cache

    @functools.cached_property
    def limiter(self) -> RateLimiter:
        """Request budgets per client, shared through Redis when configured."""
        from stratabase.ratelimit import RateLimiter

        given: RateLimiter | None = self._given["limiter"]
        return given or RateLimiter(self.settings, self._rate_limits)

    @functools.cached_property
    def ledger(self) -> LedgerService:
        """The token ledger, with its hooks; on PostgreSQL it batches this process's
        transfers, so a process has one."""
        from stratabase.ledger.service import LedgerService

        return LedgerService(self.db, self._ledger_hooks, cursors=self.cursors)

    @functools.cached_property
    def jobs(self) -> JobService:
        """The queue's use cases, and the tasks ``POST /v1/jobs`` accepts."""
        from stratabase.jobs.registry import builtin_registry
        from stratabase.jobs.service import JobService

        registry = self._job_registry or builtin_registry(periodic=False)
        return JobService(self.db, registry, cursors=self.cursors)

    @functools.cached_property
    def changes(self) -> ChangeFeed:
        """The change feed: one relay per process (started by the first subscription,
        stopped by ``close``) and the subscriptions it serves."""
        from stratabase.changes.feed import ChangeFeed

        return ChangeFeed(self.db, self.settings)

    @functools.cached_property
    def moderation(self) -> ModerationService:
        """Reports, the review queue, decisions and appeals (settings: auto-hide, claims)."""
        from stratabase.moderation.service import ModerationService

        return ModerationService(
            self.db,
            self.cache,
            self.cursors,
            auto_hide_reports=self.settings.moderation_auto_hide_reports,
            claim_seconds=self.settings.moderation_claim_seconds,
        )

    @functools.cached_property
    def observability(self) -> Observability:
        """Health, Prometheus metrics and the slow-query log of this process
        (``stratabase/observability``); ``install()`` starts the counting."""
        from stratabase.observability import Observability

        return Observability(self)

    @functools.cached_property
    def accounts(self) -> AccountService:
        """Account self-service, sending its mail through the settings' mailer."""
        from stratabase.accounts.mailer import build_mailer
        from stratabase.accounts.service import AccountService

        mailer = build_mailer(self.settings)
        return AccountService(self.db, self.cache, self.settings, mailer, cursors=self.cursors)

    @functools.cached_property
    def cursors(self) -> CursorCodec:
        """Signs page cursors with the settings' secret key."""
        from stratabase.pagination import CursorCodec

        return CursorCodec(self.settings.secret_key.get_secret_value())

    @functools.cached_property
    def payments(self) -> PaymentService:
        """Payment intents; webhooks checked with a provider's own secret, else the key."""
        from stratabase.ledger.payments import PaymentService
        from stratabase.ledger.webhooks import adapters

        secret = self.settings.secret_key.get_secret_value()
        return PaymentService(self.ledger, adapters(secret, self._webhook_secrets))

    @functools.cached_property
    def media(self) -> MediaService:
        """Uploads and attachments over the media store the settings choose (filesystem
        under the data directory, or S3)."""
        from stratabase.media.service import MediaService
        from stratabase.media.store import build_store

        return MediaService(self.db, build_store(self.settings), self.settings)

    def _use_settings(self, settings: Settings) -> None:
        """New settings (a resolved secret key): what is signed with it is built anew."""
        self.settings = settings
        for name in ("cursors", "payments", "jobs", "accounts"):
            self.__dict__.pop(name, None)
        if "ledger" in self.__dict__:  # kept (its batcher may be busy), re-keyed
            self.ledger.cursors = self.cursors

    async def share_secret_key(self) -> None:
        """Sign with the key every process on this database shares (``secret_key.py``), so
        a cursor made here is good in the next command and in the server."""
        from stratabase.secret_key import ensure_secret_key

        settings = await ensure_secret_key(self.db, self.settings)
        if settings is not self.settings:
            self._use_settings(settings)

    @classmethod
    def from_env(cls, **overrides: Any) -> Stratabase:
        """Settings from ``STRATABASE_*`` (and ``overrides``); ConfigError if one is bad."""
        return cls(load_settings(**overrides))

    # --- lifetime -----------------------------------------------------------------------

    async def open(self) -> Self:
        """Open the database pool now (an owned one), so the first calls don't pay for it."""
        if not self._opened:
            if self._owns_db:
                await self.db.engines.warm()
            self._opened = True
        return self

    async def close(self) -> None:
        """Release what this object owns, in reverse order of need: limiter, cache, database."""
        self._opened = False
        built = self.__dict__
        if "changes" in built:
            await self.changes.stop()
        if "observability" in built:
            await self.observability.close()
        if self._owns_limiter and "limiter" in built:
            await self.limiter.close()
        if self._owns_cache and "cache" in built:
            await self.cache.close()
        if self._owns_db:
            await self.db.dispose()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- entry points -------------------------------------------------------------------

    def asgi(self) -> FastAPI:
        """The HTTP API on this object; the caller opens and closes it (``up`` does)."""
        from stratabase.api.app import build_api

        return build_api(self, owned=False)

    async def migrate(self) -> str | None:
        """Bring the schema to head; returns the revision."""
        from stratabase.db import migrate as migrations

        return await migrations.upgrade(self.db)

    async def run_worker(self, stop: asyncio.Event, **resources: Any) -> None:
        """The in-process worker: every built-in task, on this object's database, cache and
        ledger, until ``stop`` is set."""
        from stratabase.jobs.tasks.episodes import RESERVER, LedgerReserver
        from stratabase.jobs.worker import run_embedded_worker

        resources.setdefault(RESERVER, LedgerReserver(self.ledger))
        self.observability.install()
        await run_embedded_worker(
            self.db, self.settings, stop, cache=self.cache, resources=resources
        )

    async def up(
        self,
        listener: socket.socket,
        *,
        all_in_one: bool = True,
        say: Say = print,
        workers: int = 1,
    ) -> None:
        """``stratabase up`` (``all_in_one``) or ``serve``, then close this object.

        Up: check the database takes writes → migrate → seed if empty → warm → serve, with
        a worker in this process when embedded. Serve: refuse a database not at head. The
        server lock (``db/inuse.py``) is held throughout, so ``reset`` waits for us.

        ``workers`` > 1 (PostgreSQL + Redis only, see ``api/server.py``): this process does
        all of the above once, closes its connections and supervises that many server
        processes on ``listener``; this call blocks its event loop until they stop (nothing
        else runs on it). Each worker opens its own pool and reuses the resolved key.
        """
        from stratabase.db import inuse

        handed_over = False
        try:
            # Before the heavy imports: a database that cannot take writes fails in a second.
            await self.db.engines.check_writable()
            with inuse.serving(self.settings):
                await self._prepare(all_in_one, say)
                if workers > 1:
                    settings = self.settings  # with the resolved secret key
                    handed_over = True
                    await self.close()  # the workers open their own: the parent keeps none
                    self._supervise(settings, listener, workers, all_in_one, say)
                else:
                    await self._serve(listener, all_in_one, say)
        finally:
            if not handed_over:
                await self.close()

    async def ready(self) -> None:
        """What serving needs first, for every server process: a database at head
        (MigrationError otherwise) and the secret key every process on it shares."""
        from stratabase.db import migrate as migrations
        from stratabase.exceptions import MigrationError
        from stratabase.secret_key import ensure_secret_key

        if (revision := await migrations.current_revision(self.db)) != migrations.head_revision():
            raise MigrationError(
                f"the database is at revision {revision or 'none'}, not "
                f"{migrations.head_revision()}: run `stratabase migrate` first (or use `up`)"
            )
        settings = await ensure_secret_key(self.db, self.settings)
        if settings is not self.settings:
            self._use_settings(settings)

    async def _prepare(self, all_in_one: bool, say: Say) -> None:
        from stratabase.content.warming import warm_hot_keys
        from stratabase.seed import seed_if_empty

        if all_in_one:
            revision = await self.migrate()
            say(f"database at revision {revision} ({self.settings.backend})")
            if await seed_if_empty(self.db, self.settings):
                say("empty database: seeded the default theme (small)")
                say(f"demo logins: {_demo_logins()}")
        await self.open()
        await self.ready()
        if all_in_one:
            warmed = await warm_hot_keys(self.db, self.cache)
            say(f"cache warmed: {warmed} hot keys")

    @staticmethod
    def _supervise(
        settings: Settings, listener: socket.socket, workers: int, all_in_one: bool, say: Say
    ) -> None:
        from stratabase.api.server import supervise

        if all_in_one:
            say("job worker: none in these processes (Redis set): run `stratabase worker`")
        host, port = listener.getsockname()[:2]
        say(f"serving on http://{host}:{port} from {workers} processes  (docs: /docs)")
        supervise(settings, listener, workers)

    async def _serve(self, listener: socket.socket, all_in_one: bool, say: Say) -> None:
        import uvicorn

        from stratabase.api.server import server_config

        app = self.asgi()
        stop = asyncio.Event()
        worker: asyncio.Task[None] | None = None
        try:
            if all_in_one and self.settings.embedded:
                worker = asyncio.create_task(self.run_worker(stop))
                say("job worker: running in this process")
            elif all_in_one:
                say("job worker: none in this process (Redis set): run `stratabase worker`")
            host, port = listener.getsockname()[:2]
            config = server_config(app, self.settings, host, port)
            say(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
            await uvicorn.Server(config).serve(sockets=[listener])
        finally:
            stop.set()
            if worker is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker


def _demo_logins() -> str:
    from stratabase.seed.people import DEMO_LOGINS

    return ", ".join(f"{email} / {password}" for email, _, _, password in DEMO_LOGINS)
