"""The ``stratabase`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

import stratabase
from stratabase.cli.bench import bench
from stratabase.cli.common import settings_from
from stratabase.cli.health import health
from stratabase.cli.migrate import migrate
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


def run() -> None:
    app()
