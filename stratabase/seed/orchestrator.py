"""The seed use cases: seed, reset, switch-theme, clean, stats — and ``seed_if_empty``.

A seed runs in one transaction, so an interrupted seed (Ctrl-C, a crash) leaves nothing
half-loaded. Before it starts it commits a ``seed`` mark in ``system_state``, cleared in the
same transaction that commits the data; a mark still present means a seed died without
rolling back, and every command then suggests ``stratabase reset``. Big seeds into an empty
PostgreSQL database trade the single transaction for speed (tables commit one by one while
their indexes are rebuilt on a second connection) and rely on that mark alone.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import delete, func, insert, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from stratabase.db import inuse, revision
from stratabase.db.base import metadata
from stratabase.db.monitor import bulk_work
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import Conflict, MigrationError, PermissionDenied
from stratabase.models import Category, LedgerAccount, SystemState, Tag
from stratabase.search import rebuild as search_rebuild
from stratabase.secret_key import STATE_KEY as SECRET_KEY_STATE
from stratabase.seed import loader, stepped
from stratabase.seed.context import Clock, PostgresClock, SQLiteClock, Start, start_of_today
from stratabase.seed.digest import database_bytes, row_counts
from stratabase.seed.generator import CONTENT_TABLES, SEEDED_TABLES, Generator
from stratabase.seed.hooks import CLEAN_HOOKS, HookResult
from stratabase.seed.progress import Reporter, Silent
from stratabase.seed.sizes import DEFAULT_SIZE, SIZES, Size, resolve_size
from stratabase.seed.theme import load_theme
from stratabase.settings import Settings

logger = logging.getLogger("stratabase.seed")

P = ParamSpec("P")
T = TypeVar("T")

THEME_KEY = "theme"
SEED_MARK_KEY = "seed"
DEFAULT_THEME = "politics"
DEFAULT_SEED = 1
#: From this many posts TRUNCATE (new files per table) beats DELETE (row by row).
TRUNCATE_MIN_POSTS = 20_000
#: From this many posts a fresh PostgreSQL seed commits table by table (see stepped.py).
STEPPED_MIN_POSTS = 200_000
#: Hosts ``reset`` treats as this machine's (a missing host is a local socket).
LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


@dataclass
class SeedResult:
    """What a seed run did, for the CLI's report and the bench: rows per table and time."""

    theme: str
    size: str
    seed: int
    tables: dict[str, int]
    seconds: float
    appended: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows written, all tables together."""
        return sum(self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        """The JSON report, with rows per second and any extra figures merged in."""
        return {
            "theme": self.theme,
            "size": self.size,
            "seed": self.seed,
            "appended": self.appended,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
            "tables": self.tables,
            **self.extra,
        }


def _bulk(operation: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Seeding moves many rows per statement: that is bulk work, not slow queries to warn of."""

    @functools.wraps(operation)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with bulk_work():
            return await operation(*args, **kwargs)

    return wrapper


def clock_for(db: Database, epoch: datetime | None = None) -> Clock:
    """Time values in the form each backend's bulk path takes fastest.

    ``epoch`` (default: the start of today, UTC) is the instant the generated activity leads
    up to: the same epoch and seed give the same rows."""
    chosen = epoch or start_of_today()
    return SQLiteClock(chosen) if db.backend == "sqlite" else PostgresClock(chosen)


async def _state(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    state = metadata.tables["system_state"]  # Core, not ORM: no mapper configuration (40 ms)
    row = await conn.execute(select(state.c.value).where(state.c.key == key))
    value = row.scalar_one_or_none()
    return dict(value) if value is not None else None


async def _set_state(conn: AsyncConnection, key: str, value: dict[str, Any] | None) -> None:
    await conn.execute(delete(SystemState).where(SystemState.key == key))
    if value is not None:
        await conn.execute(insert(SystemState).values(key=key, value=value, updated_at=utcnow()))


async def ensure_ready(db: Database) -> None:
    """Refuse to work on an unmigrated database or after an interrupted seed."""
    current, head = await revision.current_revision(db), revision.head_revision()
    if current != head:
        raise MigrationError(
            f"the database is at revision {current or 'none'}, not {head}: "
            "run `stratabase migrate` (or `stratabase reset`) first"
        )
    async with db.engine.connect() as conn:
        mark = await _state(conn, SEED_MARK_KEY)
    if mark is not None:
        raise Conflict(
            f"a seed started at {mark.get('started_at', '?')} did not finish; the database may "
            "be incomplete: run `stratabase reset`"
        )


async def _present_rows(conn: AsyncConnection) -> dict[str, int]:
    """Rows already present in the seeded tables (empty dict when there are none)."""
    present = {}
    for name in SEEDED_TABLES:
        table = metadata.tables[name]
        found = (await conn.execute(select(table).limit(1))).first()
        if found is not None:
            present[name] = int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
    return present


async def _start_for_append(conn: AsyncConnection, theme: str) -> Start:
    start = Start()
    for name in SEEDED_TABLES:
        table = metadata.tables[name]
        if "id" in table.c:
            top = (await conn.execute(select(func.max(table.c.id)))).scalar_one()
            start.offsets[name] = int(top or 0)
    rows = await conn.execute(select(Category.slug, Category.id).where(Category.theme == theme))
    start.categories = {slug: cid for slug, cid in rows}
    start.tags = {slug: tid for slug, tid in await conn.execute(select(Tag.slug, Tag.id))}
    accounts = await conn.execute(
        select(LedgerAccount.system_code, LedgerAccount.id, LedgerAccount.balance).where(
            LedgerAccount.kind == "system", LedgerAccount.currency == "TOK"
        )
    )
    start.system_accounts = {str(code): (aid, balance) for code, aid, balance in accounts}
    return start


@_bulk
async def seed(
    db: Database,
    *,
    theme: str = DEFAULT_THEME,
    size: Size | None = None,
    seed: int = DEFAULT_SEED,
    append: bool = False,
    reporter: Reporter | None = None,
    epoch: datetime | None = None,
) -> SeedResult:
    """Fill the database with a theme's data; refuses a non-empty one unless ``append``."""
    chosen = load_theme(theme)
    size = size or resolve_size(None)
    reporter = reporter or Silent()
    epoch = epoch or start_of_today()
    await ensure_ready(db)
    async with db.engine.connect() as conn:
        present = await _present_rows(conn)
        if present and not append:
            summary = ", ".join(f"{n} {t}" for t, n in list(present.items())[:3])
            raise Conflict(
                f"the database is not empty ({summary}…): pass --append to add to it, "
                "or run `stratabase reset`"
            )
        start = await _start_for_append(conn, theme) if present else Start()
    started = time.perf_counter()
    await _mark(
        db, {"theme": theme, "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    )
    generator = Generator(chosen, size, seed, clock_for(db, epoch), start)
    if not present and db.backend == "postgres" and size.posts >= STEPPED_MIN_POSTS:
        return await _seed_in_steps(db, generator, chosen.name, size, seed, reporter, started)
    try:
        async with db.begin() as session:
            conn = await session.connection()
            loaded = await loader.load(conn, generator.tables(), reporter, fresh=not present)
            assert generator.wallets is not None
            for account in generator.wallets.system_updates():
                await conn.execute(
                    update(LedgerAccount)
                    .where(LedgerAccount.id == account.id)
                    .values(
                        balance=account.balance,
                        earned_total=LedgerAccount.earned_total + account.earned,
                        spent_total=LedgerAccount.spent_total + account.spent,
                    )
                )
            if not present:
                state = {"name": theme, "size": size.name, "seed": seed}
                await _set_state(conn, THEME_KEY, state)
            await _set_state(conn, SEED_MARK_KEY, None)
    except BaseException:
        reporter.finish()
        await _clear_mark_quietly(db)
        raise
    reporter.finish()
    committed = time.perf_counter() - started
    await loader.validate_foreign_keys(db.engine, loaded.unvalidated)
    search_seconds = await _index_for_search(db)
    return SeedResult(
        theme,
        size.name,
        seed,
        loaded.tables,
        time.perf_counter() - started,
        appended=bool(present),
        extra={
            "committed_after_seconds": round(committed, 3),
            "search_index_seconds": round(search_seconds, 3),
            "epoch": epoch.isoformat(),
        },
    )


async def _seed_in_steps(
    db: Database,
    generator: Generator,
    theme: str,
    size: Size,
    seed: int,
    reporter: Reporter,
    started: float,
) -> SeedResult:
    """Big seeds into an empty PostgreSQL database: tables commit one by one while a second
    connection rebuilds indexes and keys. The seed mark is cleared only at the very end, so
    an interruption leaves it set and every command suggests ``stratabase reset``."""
    try:
        tables = await stepped.load_in_steps(db.engine, generator.tables(), reporter, SEEDED_TABLES)
    finally:
        reporter.finish()
    async with db.begin() as session:
        conn = await session.connection()
        await _set_state(conn, THEME_KEY, {"name": theme, "size": size.name, "seed": seed})
        await _set_state(conn, SEED_MARK_KEY, None)
    search_seconds = await _index_for_search(db)
    return SeedResult(
        theme,
        size.name,
        seed,
        tables,
        time.perf_counter() - started,
        extra={"search_index_seconds": round(search_seconds, 3)},
    )


async def _index_for_search(db: Database) -> float:
    """Bulk loads bypass the services' per-write indexing: index the loaded rows once.

    Returns the seconds it took (reported apart from the data load). On PostgreSQL the
    planner's statistics are refreshed too: right after a bulk load autovacuum has not run
    yet, and the first reads would be planned for empty tables (seconds, not milliseconds)."""
    began = time.perf_counter()
    await search_rebuild.rebuild(db)
    if db.backend == "postgres":
        async with db.begin() as session:
            await (await session.connection()).exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


async def _mark(db: Database, value: dict[str, Any]) -> None:
    async with db.begin() as session:
        await _set_state(await session.connection(), SEED_MARK_KEY, value)


async def _clear_mark_quietly(db: Database) -> None:
    """After a rollback nothing of the seed is left, so the mark can go too."""
    try:
        async with db.begin() as session:
            await _set_state(await session.connection(), SEED_MARK_KEY, None)
    except BaseException:  # the mark stays and commands will suggest `reset`
        logger.warning("could not clear the seed-in-progress mark; run `stratabase reset`")


@_bulk
async def switch_theme(
    db: Database, theme: str, *, reporter: Reporter | None = None, epoch: datetime | None = None
) -> SeedResult:
    """Replace the themed content with ``theme``'s; users, wallets and ledger stay as they are."""
    chosen = load_theme(theme)
    reporter = reporter or Silent()
    epoch = epoch or start_of_today()
    await ensure_ready(db)
    started = time.perf_counter()
    async with db.engine.connect() as conn:
        state = await _state(conn, THEME_KEY) or {}
        users, top_user, orgs, top_org, posts = (await conn.execute(_PEOPLE_AND_POSTS)).one()
        posts = int(posts)
        start = Start(offsets=await _high_water(conn, CONTENT_TABLES))
    if users == 0:
        raise Conflict("the database has no users: run `stratabase seed` first")
    if (top_user or 0) != users or (top_org or 0) != orgs or orgs < max(2, users // 50):
        raise Conflict(
            "switch-theme needs the users and organizations a seed created (ids 1..N): "
            "run `stratabase reset --theme " + theme + "` instead"
        )
    named = SIZES.get(str(state.get("size")), SIZES[DEFAULT_SIZE])
    size = Size("custom", users=users, posts=posts or named.posts)
    seed_value = int(state.get("seed", DEFAULT_SEED))
    generator = Generator(chosen, size, seed_value, clock_for(db, epoch), start)
    # Only the posts change: their documents are replaced in the same transaction, unless
    # there are so many that PostgreSQL's set-based full rebuild (after commit) wins.
    in_step = db.backend != "postgres" or size.posts < search_rebuild.PG_REINDEX_MIN_DOCS
    search_seconds = 0.0
    async with db.begin() as session:
        conn = await session.connection()
        await _clear_content(conn, posts)
        # The themed tables are empty now: big ones take the drop-and-rebuild path.
        loaded = await loader.load(conn, generator.tables(content_only=True), reporter, fresh=True)
        await _set_state(conn, THEME_KEY, {**state, "name": theme, "seed": seed_value})
        if in_step:
            began = time.perf_counter()
            await search_rebuild.reindex_posts(conn)
            search_seconds = time.perf_counter() - began
    reporter.finish()
    await loader.validate_foreign_keys(db.engine, loaded.unvalidated)
    if not in_step:
        search_seconds = await _index_for_search(db)
    return SeedResult(
        theme,
        state.get("size", size.name),
        seed_value,
        loaded.tables,
        time.perf_counter() - started,
        extra={
            "previous_theme": state.get("name"),
            "search_index_seconds": round(search_seconds, 3),
            "epoch": epoch.isoformat(),
        },
    )


#: What switch-theme finds: users, organizations (count, top id each) and posts, in Core (an
#: ORM statement would configure all mappers, 40 ms of a sub-second command).
_PEOPLE_AND_POSTS = select(
    *(
        aggregate
        for name in ("users", "organizations")
        for aggregate in (
            select(func.count()).select_from(metadata.tables[name]).scalar_subquery(),
            select(func.max(metadata.tables[name].c.id)).scalar_subquery(),
        )
    ),
    select(func.count()).select_from(metadata.tables["posts"]).scalar_subquery(),
)


async def _high_water(conn: AsyncConnection, names: tuple[str, ...]) -> dict[str, int]:
    """The largest id each table has ever handed out (deleted rows included).

    New content starts above it, so no id of the old theme's rows (or of rows users made)
    comes back naming another thing. One statement for all the tables."""
    named = [name for name in names if "id" in metadata.tables[name].c]
    sqlite = conn.dialect.name == "sqlite"
    parts = []
    for name in named:  # names of our own tables, not input
        if sqlite:
            parts.append(f"(SELECT seq FROM sqlite_sequence WHERE name = '{name}')")
        else:
            parts.append(f"pg_sequence_last_value(pg_get_serial_sequence('{name}', 'id'))")
        parts.append(f'(SELECT max(id) FROM "{name}")')
    if not parts:
        return {}
    row = (await conn.exec_driver_sql("SELECT " + ", ".join(parts))).one()
    return {
        name: max(int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, name in enumerate(named)
    }


async def _clear_content(conn: AsyncConnection, posts: int) -> None:
    """Empty the themed tables: TRUNCATE for big content, DELETE (cheaper) for small."""
    if conn.dialect.name == "postgresql" and posts >= TRUNCATE_MIN_POSTS:
        names = ", ".join(f'"{name}"' for name in CONTENT_TABLES)
        await conn.exec_driver_sql(f"TRUNCATE {names}")
        return
    for name in reversed(CONTENT_TABLES):
        await conn.execute(delete(metadata.tables[name]))


def is_local(settings: Settings) -> bool:
    """SQLite, or PostgreSQL on this machine: where ``reset`` may drop without ``confirm``."""
    return settings.backend == "sqlite" or make_url(settings.database_url).host in LOCAL_HOSTS


@_bulk
async def reset(
    db: Database,
    *,
    theme: str = DEFAULT_THEME,
    size: Size | None = None,
    seed_value: int = DEFAULT_SEED,
    reporter: Reporter | None = None,
    epoch: datetime | None = None,
    confirm: bool = False,
) -> SeedResult:
    """Drop everything, migrate to head, seed.

    A database on another machine is dropped only with ``confirm=True`` (the CLI's
    ``--yes``), and an embedded one is refused while a server uses it (db/inuse.py).
    """
    load_theme(theme)  # an unknown theme must fail before anything is dropped
    if not confirm and not is_local(db.settings):
        where = make_url(db.settings.database_url).render_as_string(hide_password=True)
        raise PermissionDenied(
            f"{where} is not a local database: pass --yes (confirm=True) to drop everything in it"
        )
    from stratabase.db import migrate  # Alembic: only the commands that migrate import it

    with inuse.exclusive(db.settings):
        kept = await _kept_state(db)
        await drop_everything(db)
        await migrate.upgrade(db)
        if kept:  # servers still running keep signing with it: cursors stay valid
            async with db.begin() as session:
                await session.execute(insert(SystemState), kept)
        return await seed(
            db, theme=theme, size=size, seed=seed_value, reporter=reporter, epoch=epoch
        )


async def _kept_state(db: Database) -> list[dict[str, Any]]:
    """``system_state`` rows a reset keeps: the generated secret key (PostgreSQL keeps it
    in the database; SQLite in a file beside it, which a reset leaves alone)."""
    if db.backend != "postgres":
        return []
    async with db.engine.connect() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table("system_state")):
            return []
        rows = await conn.execute(
            select(SystemState.key, SystemState.value, SystemState.updated_at).where(
                SystemState.key == SECRET_KEY_STATE
            )
        )
        return [dict(row) for row in rows.mappings()]


async def drop_everything(db: Database) -> None:
    """SQLite: remove the file. PostgreSQL: downgrade to base, or drop every table we see.

    A populated SQLite database cannot always be downgraded table by table (dropping a
    table deletes its rows, and rows of self-referencing tables trip the foreign keys), and
    a fresh file is what the embedded default starts from anyway.
    """
    if db.backend == "sqlite":
        await db.dispose()
        path = Path(make_url(db.settings.database_url).database or "")
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            candidate.unlink(missing_ok=True)
        return
    from stratabase.db import migrate

    try:
        await migrate.downgrade(db, "base")
        return
    except MigrationError:
        logger.warning("downgrade failed; dropping every table instead")

    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        await conn.exec_driver_sql("CREATE SCHEMA public")


@_bulk
async def clean(db: Database, settings: Settings) -> list[HookResult]:
    """Clear caches and rebuild the search index; data is not touched."""
    return [await hook(db, settings) for hook in CLEAN_HOOKS]


@dataclass(frozen=True)
class DatabaseStats:
    """What ``stratabase stats`` reports: rows per table, size on disk and the theme."""

    backend: str
    #: The current theme's name, None before the first seed.
    theme: str | None
    #: The recorded seed (theme, size, seed, epoch…) as stored, None before the first seed.
    seed: dict[str, Any] | None
    #: A seed started and did not finish: the data is partial (``stratabase reset``).
    seed_interrupted: bool
    database_bytes: int
    #: Rows, all tables together.
    rows: int
    tables: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report (``stratabase stats --json``), keys in field order."""
        return dataclasses.asdict(self)


async def stats(db: Database) -> DatabaseStats:
    """Rows per table, size on disk, theme and whether a seed was interrupted; refuses an
    unmigrated database."""
    async with db.engine.connect() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table("system_state")):
            raise MigrationError("the database is not migrated: run `stratabase migrate`")
        counts = await row_counts(conn)
        size = await database_bytes(conn, db.settings.database_url)
        theme = await _state(conn, THEME_KEY)
        mark = await _state(conn, SEED_MARK_KEY)
    return DatabaseStats(
        backend=db.backend,
        theme=theme.get("name") if theme else None,
        seed=theme,
        seed_interrupted=mark is not None,
        database_bytes=size,
        rows=sum(counts.values()),
        tables=counts,
    )


async def seed_if_empty(
    db: Database, settings: Settings, *, theme: str = DEFAULT_THEME, size: str = "small"
) -> bool:
    """Seed ``theme`` when the database holds no seeded rows; True when it seeded.

    ``stratabase up`` calls this after migrating, so a first start has data to show.
    """
    async with db.engine.connect() as conn:
        if await _present_rows(conn) or await _state(conn, SEED_MARK_KEY) is not None:
            return False
    result = await seed(db, theme=theme, size=resolve_size(size))
    logger.info("seeded theme %s (%s): %d rows in %.1fs", theme, size, result.rows, result.seconds)
    return True
