"""Periodic jobs registered in code: every N seconds, or a five-field cron line (UTC).

Each worker keeps the *next* slot of every periodic job enqueued, with the unique key
``periodic:<name>:<slot>``; the partial unique index makes the many workers' inserts one
job. A slot is computed strictly after now, so a slot that already ran is never re-enqueued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
_NAMES = {
    "weekday": {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
    "month": {
        m: i + 1
        for i, m in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
        )
    },
}
#: How far ahead a cron search looks before declaring the line unsatisfiable (Feb 30…).
_SEARCH_DAYS = 366 * 8


def _value(text: str, name: str) -> int:
    names = _NAMES.get(name, {})
    return names[text.lower()] if text.lower() in names else int(text)


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"cron {name}: step must be at least 1")
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, stop = _value(first, name), _value(last, name)
        else:
            start = _value(base, name)
            stop = high if step_text else start
        if name == "weekday" and stop == 7:  # 7 is Sunday too
            values.add(0)
            stop = 6
        if not (low <= start <= high and low <= stop <= high and start <= stop):
            raise ValueError(f"cron {name}: {part!r} is outside {low}-{high}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron line: ``minute hour day-of-month month day-of-week``."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: Standard cron: when both day fields are restricted, either may match.
    day_or_weekday: bool

    @classmethod
    def parse(cls, line: str) -> Cron:
        """A five-field cron line; ValueError naming the field at fault."""
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"cron line needs 5 fields, got {len(parts)}: {line!r}")
        try:
            parsed = [
                _parse_field(part, name, low, high)
                for part, (name, low, high) in zip(parts, _FIELDS, strict=True)
            ]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad cron line {line!r}: {exc}") from None
        minutes, hours, days, months, weekdays = parsed
        either = parts[2] != "*" and parts[4] != "*"
        return cls(minutes, hours, days, months, weekdays, day_or_weekday=either)

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        return (by_day or by_weekday) if self.day_or_weekday else (by_day and by_weekday)

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after ``after`` (UTC)."""
        start = after.astimezone(UTC).replace(second=0, microsecond=0)
        day = start.replace(hour=0, minute=0)
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate > after:
                            return candidate
            day += timedelta(days=1)
        raise ValueError("cron line never matches")


@dataclass(frozen=True)
class Periodic:
    """A job to enqueue on a schedule: exactly one of ``every`` (seconds) or ``cron``."""

    name: str
    task: str
    every: float | None = None
    cron: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    _cron: Cron | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"periodic job {self.name!r}: give every or cron, exactly one")
        if self.every is not None and self.every <= 0:
            raise ValueError(f"periodic job {self.name!r}: every must be positive")
        if self.cron is not None:
            object.__setattr__(self, "_cron", Cron.parse(self.cron))

    def next_after(self, after: datetime) -> datetime:
        """The next slot strictly after ``after``; ``every`` slots are aligned to the epoch."""
        if self._cron is not None:
            return self._cron.next_after(after)
        assert self.every is not None
        epoch = after.timestamp()
        slot = (epoch // self.every + 1) * self.every
        return datetime.fromtimestamp(slot, UTC)

    def unique_key(self, slot: datetime) -> str:
        """One key per slot: several schedulers enqueue a slot once."""
        return f"periodic:{self.name}:{slot.astimezone(UTC).isoformat()}"
