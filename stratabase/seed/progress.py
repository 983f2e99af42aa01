"""Progress of a bulk load: Rich bars per table for people, nothing for scripts.

A table's bar appears only once it has been loading for a second, so small seeds stay quiet
and big ones show rows, rows/s and time left per table.
"""

from __future__ import annotations

import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

#: A table's bar appears after it has been loading this long.
SHOW_AFTER_SECONDS = 1.0


class Reporter(Protocol):
    """Where the seed reports progress, one table (or step list) at a time."""

    def start(self, table: str, total: int, unit: str = "rows") -> None:
        """Begin ``table`` (``total`` units); the previous one counts as complete."""

    def advance(self, rows: int) -> None:
        """``rows`` more done; ``advance(0)`` just lets the display refresh."""

    def finish(self) -> None:
        """The seed is over: complete the last table and release the display."""


class Silent:
    """For ``--quiet``, ``--json``, tests and ``stratabase up``."""

    def start(self, table: str, total: int, unit: str = "rows") -> None:
        """Report nothing."""

    def advance(self, rows: int) -> None:
        """Report nothing."""

    def finish(self) -> None:
        """Report nothing."""


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "rows")
        return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="cyan")


class RichReporter:
    """One bar per table, shown once the table has taken over a second."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RowsPerSecond(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._started = 0.0
        self._shown = False
        self._running = False

    def start(self, table: str, total: int, unit: str = "rows") -> None:
        """Complete the previous bar and add a hidden one for ``table``."""
        if not self._running:
            self._progress.start()
            self._running = True
        self._finish_task()
        self._task = self._progress.add_task(table, total=total, visible=False, unit=unit)
        self._started = time.monotonic()
        self._shown = False

    def advance(self, rows: int) -> None:
        """Move the bar; show it once the table has taken a second."""
        if self._task is None:
            return
        self._progress.advance(self._task, rows)
        if not self._shown and time.monotonic() - self._started >= SHOW_AFTER_SECONDS:
            self._progress.update(self._task, visible=True)
            self._shown = True

    def _finish_task(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, completed=task.total)
            self._task = None

    def finish(self) -> None:
        """Complete the last bar and stop the live display."""
        self._finish_task()
        if self._running:
            self._progress.stop()
            self._running = False
