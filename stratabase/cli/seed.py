"""The dev-workflow commands: ``seed``, ``reset``, ``switch-theme``, ``clean``, ``stats``."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import typer
from sqlalchemy.engine import make_url

from stratabase.cache.announce import announced
from stratabase.cli.common import console, fail, root, run, settings_from
from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput
from stratabase.seed import orchestrator
from stratabase.seed.orchestrator import SeedResult
from stratabase.seed.progress import Reporter, RichReporter, Silent
from stratabase.seed.sizes import DEFAULT_SIZE, SIZES, Size, resolve_size
from stratabase.seed.theme import load_theme
from stratabase.settings import Settings

T = TypeVar("T")

ThemeOption = typer.Option(orchestrator.DEFAULT_THEME, "--theme", help="Theme to seed.")
SizeOption = typer.Option(DEFAULT_SIZE, "--size", help=f"One of {', '.join(SIZES)}.")
SeedOption = typer.Option(orchestrator.DEFAULT_SEED, "--seed", help="Random seed.")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bars, no summary.")
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")
EpochOption = typer.Option(
    None,
    "--epoch",
    help="Day (YYYY-MM-DD, UTC) the seeded activity leads up to; default today. "
    "The same epoch and seed give the same rows.",
)


def _epoch(value: str | None) -> datetime | None:
    """``--epoch`` as midnight UTC of that day; a malformed day is one line and exit 2."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        fail(f"--epoch: {value!r} is not a day like 2026-11-01", 2)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the database of the command's composition root, then close it."""

    async def main() -> T:
        async with root(settings) as sb:
            return await work(sb.db)

    return run(main())


def _checked(theme: str, size: str, users: int | None = None, posts: int | None = None) -> Size:
    """Refuse an unknown theme or size before touching the database (exit 2)."""
    try:
        load_theme(theme)
        return resolve_size(size, users, posts)
    except InvalidInput as exc:
        fail(exc.message, 2)


def _reporter(quiet: bool, as_json: bool) -> Reporter:
    return Silent() if quiet or as_json else RichReporter(console)


def _print_result(verb: str, result: SeedResult, quiet: bool, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    elif not quiet:
        search = float(result.extra.get("search_index_seconds", 0.0))
        load = result.seconds - search
        rate = result.rows / load if load > 0 else 0
        console.print(
            f"{verb} theme [bold]{result.theme}[/] ({result.size}, seed {result.seed}): "
            f"{result.rows:,} rows in {load:.2f} s ({rate:,.0f} rows/s)"
            + (f", search index in {search:.2f} s" if search >= 0.01 else "")
        )


def seed(
    ctx: typer.Context,
    theme: str = ThemeOption,
    size: str = SizeOption,
    seed: int = SeedOption,
    users: int | None = typer.Option(None, "--users", help="Override the size's user count."),
    posts: int | None = typer.Option(None, "--posts", help="Override the size's post count."),
    append: bool = typer.Option(False, "--append", help="Add to a non-empty database."),
    epoch: str | None = EpochOption,
    quiet: bool = QuietOption,
    as_json: bool = JsonOption,
) -> None:
    """Fill an empty database with a theme's data (deterministic for a given seed)."""
    chosen = _checked(theme, size, users, posts)
    day = _epoch(epoch)
    settings = settings_from(ctx)
    result = _with_db(
        settings,
        lambda db: announced(db, orchestrator.seed(
            db, theme=theme, size=chosen, seed=seed, append=append,
            reporter=_reporter(quiet, as_json), epoch=day,
        )),
    )  # fmt: skip
    _print_result("appended" if result.appended else "seeded", result, quiet, as_json)


def _describe(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def reset(
    ctx: typer.Context,
    theme: str = ThemeOption,
    size: str = SizeOption,
    seed: int = SeedOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; required when remote."),
    epoch: str | None = EpochOption,
    quiet: bool = QuietOption,
    as_json: bool = JsonOption,
) -> None:
    """Drop everything, migrate, seed: a fresh database in one command."""
    chosen = _checked(theme, size)
    day = _epoch(epoch)
    settings = settings_from(ctx)
    where = _describe(settings)
    if not yes:
        if not orchestrator.is_local(settings):
            fail(f"{where} is not a local database: pass --yes to drop everything in it", 1)
        if not sys.stdin.isatty():  # `echo n | stratabase reset` must not mean yes
            fail(f"no terminal to confirm on: pass --yes to drop everything in {where}", 1)
        if not typer.confirm(f"Drop everything in {where}?"):
            fail("cancelled", 1)
    result = _with_db(
        settings,
        lambda db: announced(
            db,
            orchestrator.reset(
                db,
                theme=theme,
                size=chosen,
                seed_value=seed,
                reporter=_reporter(quiet, as_json),
                confirm=True,
                epoch=day,
            ),
        ),
    )
    _print_result("reset and seeded", result, quiet, as_json)


def switch_theme(
    ctx: typer.Context,
    theme: str = typer.Argument(..., help="Theme whose content replaces the current one."),
    epoch: str | None = EpochOption,
    quiet: bool = QuietOption,
    as_json: bool = JsonOption,
) -> None:
    """Replace the content with another theme's; users, wallets and ledger are kept."""
    _checked(theme, DEFAULT_SIZE)
    day = _epoch(epoch)
    settings = settings_from(ctx)
    result = _with_db(
        settings,
        lambda db: announced(
            db,
            orchestrator.switch_theme(db, theme, reporter=_reporter(quiet, as_json), epoch=day),
        ),
    )
    _print_result("switched to", result, quiet, as_json)


def clean(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Clear every cache namespace and rebuild the search index; data is not touched."""
    settings = settings_from(ctx)
    results = _with_db(settings, lambda db: orchestrator.clean(db, settings))
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in results], indent=2))
        return
    for result in results:
        console.print(f"{result.name}: {'done' if result.done else 'skipped'} — {result.detail}")


def stats(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Row counts per table, database size and the current theme."""
    settings = settings_from(ctx)
    report = _with_db(settings, orchestrator.stats)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    from rich.table import Table  # only here: every other command would pay for it

    table = Table(title=f"stratabase stats ({report.backend})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in report.tables.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(
        f"theme: {report.theme or 'none'}   rows: {report.rows:,}   "
        f"size: {report.database_bytes / 1_048_576:,.1f} MiB"
    )
    if report.seed_interrupted:
        console.print("[yellow]a seed did not finish: run `stratabase reset`[/]")


def register(app: typer.Typer) -> None:
    """Add the dev-workflow commands to the ``stratabase`` app."""
    app.command()(seed)
    app.command()(reset)
    app.command("switch-theme")(switch_theme)
    app.command()(clean)
    app.command()(stats)
