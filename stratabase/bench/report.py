"""Benchmark results: one shape for every suite, printed as a table and written as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from stratabase.settings import Backend, Settings


@dataclass(frozen=True)
class Result:
    """One measured figure, with the reference it is compared to in the same run."""

    name: str
    value: float
    unit: str
    #: The reference figure (naive way or best peer library), or None when there is none.
    reference: float | None = None
    #: What the issue asks of ``ratio``; None when the figure is informational.
    target: float | None = None
    better: Literal["higher", "lower"] = "higher"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / reference`` (3 decimals); None without a (non-zero) reference."""
        if self.reference in (None, 0):
            return None
        return round(self.value / self.reference, 3)

    @property
    def meets_target(self) -> bool | None:
        """Whether the ratio reaches the target in the ``better`` direction; None if either
        is missing."""
        ratio = self.ratio
        if ratio is None or self.target is None:
            return None
        return ratio >= self.target if self.better == "higher" else ratio <= self.target

    def as_dict(self) -> dict[str, Any]:
        """The fields plus ``ratio`` and ``meets_target``, for the JSON file."""
        data = asdict(self)
        data["ratio"] = self.ratio
        data["meets_target"] = self.meets_target
        return data


@dataclass
class BenchContext:
    """What a suite gets: settings for the chosen backend and room for its options."""

    settings: Settings
    backend: Backend
    options: dict[str, Any] = field(default_factory=dict)


def render(suite: str, backend: str, results: list[Result], console: Console) -> None:
    """One table of the results, a missed target marked ``NO``."""
    table = Table(title=f"stratabase bench {suite} ({backend})")
    for column, justify in (
        ("name", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("reference", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("ok", "center"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for result in results:
        meets = result.meets_target
        table.add_row(
            result.name,
            f"{result.value:,.2f}",
            result.unit,
            "" if result.reference is None else f"{result.reference:,.2f}",
            "" if result.ratio is None else f"{result.ratio:.2f}x",
            ""
            if result.target is None
            else f"{'≥' if result.better == 'higher' else '≤'}{result.target:g}",
            "" if meets is None else ("yes" if meets else "NO"),
        )
    console.print(table)


def write_json(path: Path, suite: str, backend: str, results: list[Result]) -> None:
    """Write the results to ``path`` (parents created), for comparing runs later."""
    payload = {"suite": suite, "backend": backend, "results": [r.as_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
