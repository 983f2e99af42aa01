"""``stratabase bench SUITE``: run one benchmark suite, print a table, optionally write JSON."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import typer

import stratabase.bench
from stratabase.bench.report import BenchContext, Result, render, write_json
from stratabase.cli.common import console, fail, run, settings_from
from stratabase.settings import Backend

_NOT_SUITES = {"report"}


def available_suites() -> list[str]:
    """The bench suites: every module of ``stratabase.bench`` but the helpers."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(stratabase.bench.__path__)
        if module.name not in _NOT_SUITES and not module.name.startswith("_")
    )


def bench(
    ctx: typer.Context,
    suite: str = typer.Argument(..., help="Suite to run (see the error for the list)."),
    backend: str | None = typer.Option(
        None, help="sqlite or postgres (default: the configured database's backend)."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write results here."),
    quick: bool = typer.Option(False, "--quick", help="Smaller sizes, for a smoke run."),
) -> None:
    """Measure a hot path against the naive way and the best peer, in one run."""
    suites = available_suites()
    if suite not in suites:
        fail(f"unknown suite {suite!r}; available: {', '.join(suites) or 'none'}", 2)
    settings = settings_from(ctx)
    if backend not in (None, "sqlite", "postgres"):
        fail(f"--backend must be sqlite or postgres, not {backend!r}", 2)
    chosen: Backend = backend or settings.backend  # type: ignore[assignment]
    module: Any = importlib.import_module(f"stratabase.bench.{suite}")
    context = BenchContext(settings=settings, backend=chosen, options={"quick": quick})
    results: list[Result] = run(module.run(context))
    render(suite, chosen, results, console)
    if json_path is not None:
        write_json(json_path, suite, chosen, results)
        console.print(f"wrote {json_path}")
