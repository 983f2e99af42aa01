"""The ``stratabase`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

import stratabase
from stratabase.cli.bench import bench
from stratabase.cli.cache import app as cache_app
from stratabase.cli.common import settings_from
from stratabase.cli.health import health
from stratabase.cli.jobs import app as jobs_app
from stratabase.cli.jobs import worker
from stratabase.cli.ledger import ledger_app
from stratabase.cli.migrate import migrate
from stratabase.cli.seed import register as register_seed_commands
from stratabase.cli.serve import serve, up

app = typer.Typer(
    name="stratabase",
    help="The data backbone for content and community applications.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stratabase {stratabase.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Settings are read from STRATABASE_* variables once, here, and passed down."""
    settings_from(ctx)


app.command()(migrate)
app.command()(health)
app.command()(serve)
app.command()(up)
app.command()(bench)
app.add_typer(cache_app, name="cache")
register_seed_commands(app)
app.add_typer(ledger_app, name="ledger")
app.command()(worker)
app.add_typer(jobs_app, name="jobs")


def run() -> None:
    app()
