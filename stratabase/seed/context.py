"""What every part of the generator shares: the spec, seeded random streams, the clock.

Each domain draws from its own named stream (``random.Random("<seed>:<stream>")``), so a
domain's rows depend only on the seed (and, for content, the theme) — never on how much
another domain consumed. That is what lets ``switch-theme`` regenerate the content alone and
still point at the same users.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import orjson

from stratabase.seed.sizes import Size
from stratabase.seed.theme import Theme

#: Every generated timestamp is an epoch minus an offset: the data depends on the epoch, never
#: on the clock while generating. This is the fixed epoch tests and benchmarks pin; a seed
#: from the command line takes the start of its own day (:func:`start_of_today`), so the
#: newest activity lies in the hours before it and "popular this week" is never empty.
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH_TS = int(EPOCH.timestamp())
DAY = 86_400
#: Posts and comments spread over this many seconds before the epoch.
CONTENT_SPAN = 365 * DAY
#: PostgreSQL stores a timestamp as microseconds since this instant.
POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def start_of_today() -> datetime:
    """Midnight UTC of the current day: the default epoch of ``stratabase seed``."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def check_epoch(epoch: datetime) -> datetime:
    """Epochs are whole seconds, UTC: the three clocks must give the same instants."""
    if epoch.tzinfo is None:
        raise ValueError("the seed epoch must be timezone-aware")
    return datetime.fromtimestamp(int(epoch.timestamp()), UTC)


class Clock(Protocol):
    """Turns offsets into the values a backend's bulk path takes (same instant everywhere)."""

    def at(self, seconds: int) -> Any:
        """The instant ``epoch + seconds`` (seconds is usually negative)."""

    def day(self, days: int) -> Any:
        """The date ``epoch.date() + days``."""


class DatetimeClock:
    """Aware ``datetime``/``date`` objects: what the ORM and the drivers take."""

    def __init__(self, epoch: datetime = EPOCH) -> None:
        self.epoch = check_epoch(epoch)
        self._ts = int(self.epoch.timestamp())

    def at(self, seconds: int) -> datetime:
        """The instant as an aware ``datetime``."""
        return datetime.fromtimestamp(self._ts + seconds, UTC)

    def day(self, days: int) -> date:
        """The date ``days`` from the epoch's."""
        return self.epoch.date() + timedelta(days=days)


class PostgresClock:
    """Timestamps as PostgreSQL's own integer (microseconds since 2000-01-01 UTC).

    The bulk loader's COPY sends them as they are (see ``loader.copy_table``).
    Building a ``datetime`` and having the driver take it apart again cost ~0.9 µs per
    value, a fifth of the Python time of a ``large`` seed (about 12 million timestamps).
    """

    def __init__(self, epoch: datetime = EPOCH) -> None:
        self.epoch = check_epoch(epoch)
        self._us = int((self.epoch - POSTGRES_EPOCH).total_seconds()) * 1_000_000

    def at(self, seconds: int) -> int:
        """The instant as microseconds since 2000-01-01 UTC (COPY's binary form)."""
        return self._us + seconds * 1_000_000

    def day(self, days: int) -> date:
        """The date ``days`` from the epoch's."""
        return self.epoch.date() + timedelta(days=days)


class SQLiteClock:
    """The text SQLAlchemy's SQLite DateTime/Date types store and read back."""

    def __init__(self, epoch: datetime = EPOCH) -> None:
        self.epoch = check_epoch(epoch)
        self._ts = int(self.epoch.timestamp())

    def at(self, seconds: int) -> str:
        """The instant as the text SQLAlchemy stores in SQLite."""
        return time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(self._ts + seconds))

    def day(self, days: int) -> str:
        """The date ``days`` from the epoch's, as ISO text."""
        return (self.epoch.date() + timedelta(days=days)).isoformat()


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON text: the same bytes for the same value, on every backend."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass
class Start:
    """Where a seed starts: id offsets and shared rows already present (``--append``)."""

    #: table -> largest id already used (0 on an empty database).
    offsets: dict[str, int] = field(default_factory=dict)
    #: slug -> id of categories of this theme that already exist.
    categories: dict[str, int] = field(default_factory=dict)
    #: slug -> id of tags that already exist.
    tags: dict[str, int] = field(default_factory=dict)
    #: system_code -> (account id, balance) of system ledger accounts that already exist.
    system_accounts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def appending(self) -> bool:
        """Whether rows already exist (``--append``): ids then start after them."""
        return any(self.offsets.values())

    def offset(self, table: str) -> int:
        """The largest id already used in ``table`` (0 if none): new ids start after it."""
        return self.offsets.get(table, 0)


@dataclass
class TableData:
    """Rows for one table, in id order, as plain tuples matching ``columns``."""

    table: str
    columns: tuple[str, ...]
    count: int
    rows: Iterable[tuple[Any, ...]]


@dataclass
class Context:
    """What every table generator reads: theme, size, seed, clock and where ids start. Same context,
    same rows."""

    theme: Theme
    size: Size
    seed: int
    clock: Clock
    start: Start = field(default_factory=Start)

    def rng(self, stream: str, *, themed: bool = False) -> random.Random:
        """A random stream of its own; ``themed`` streams also depend on the theme."""
        key = f"{self.seed}:{self.theme.name}:{stream}" if themed else f"{self.seed}:{stream}"
        return random.Random(key)

    @property
    def users(self) -> int:
        """How many users this seed makes."""
        return self.size.users

    @property
    def organizations(self) -> int:
        """How many organizations: one per 50 users, at least two."""
        return max(2, self.size.users // 50)

    def user_id(self, index: int) -> int:
        """The id of the user at ``index`` (after any existing users)."""
        return self.start.offset("users") + index + 1

    def org_id(self, index: int) -> int:
        """The id of the organization at ``index`` (after any existing ones)."""
        return self.start.offset("organizations") + index + 1


def role_of(index: int) -> str:
    """Roles by position, so content can find moderators without reading users."""
    if index == 0:
        return "admin"
    if index == 1 or index % 50 == 7:
        return "moderator"
    if index % 1000 == 500:
        return "admin"
    return "user"


def moderator_indexes(users: int) -> list[int]:
    """Indexes of the users who moderate or administer (see :func:`role_of`)."""
    return [i for i in range(users) if role_of(i) != "user"]


def skewed(rng: random.Random, n: int) -> Callable[[], int]:
    """A picker of 0..n-1 favouring low indexes (a few popular users, posts…)."""
    rand = rng.random

    def pick() -> int:
        r = rand()
        return int(n * r * r)

    return pick
