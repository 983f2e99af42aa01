"""What every command shares: settings from the context, async running, one-line errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from stratabase.exceptions import ConfigError, StratabaseError
from stratabase.settings import Settings, load_settings

if TYPE_CHECKING:
    from stratabase.app import Stratabase

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: what scripts and people both can read."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def settings_from(ctx: typer.Context) -> Settings:
    """The settings the ``stratabase`` callback loaded, or the environment's (exit 2 if bad)."""
    if not isinstance(ctx.obj, Settings):
        try:
            ctx.obj = load_settings()
        except ConfigError as exc:
            fail(exc.message, 2)
    return cast(Settings, ctx.obj)


def configure_logging(settings: Settings) -> None:
    """Log lines to stderr at the settings' level and format, for the long-running commands."""
    from stratabase.observability.logs import configure_logging as configure

    # Text or JSON lines (STRATABASE_LOG_FORMAT), with the request id (observability/logs.py).
    configure(settings.log_level_number, settings.log_format)
    # Alembic narrates every plugin and revision at INFO; `up` prints the revision itself.
    if settings.log_level_number > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def run(
    coro: Coroutine[Any, Any, T],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run a coroutine (in a loop from ``loop_factory``, e.g. uvloop's, if given); turn our
    errors into one line and exit code 1.

    Connect failures and read-only databases arrive as DatabaseUnavailable (the engine
    translates them, see db/faults.py); any other driver error still gets one line here.
    """
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(coro)
    except StratabaseError as exc:
        fail(exc.message, 2 if isinstance(exc, ConfigError) else 1)
    except DBAPIError as exc:
        fail(f"database error: {_first_line(exc.orig or exc)}", 1)
    except KeyboardInterrupt:
        fail("interrupted", 130)


@asynccontextmanager
async def root(settings: Settings, **options: Any) -> AsyncIterator[Stratabase]:
    """A command's composition root, closed when the command is done. Not opened: a
    command's few statements need no warm pool, and services are built only when used.
    ``options`` go to :class:`~stratabase.app.Stratabase` (e.g. ``bind_cache=False``)."""
    from stratabase.app import Stratabase

    sb = Stratabase(settings, **options)
    try:
        yield sb
    finally:
        await sb.close()
