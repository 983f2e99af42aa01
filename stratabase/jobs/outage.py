"""How a worker lives through a database outage: back off, and say so once.

A worker whose database is down (unreachable, restarting, read-only) must neither spin nor
flood its log: every failed cycle waits longer (exponential, capped, with jitter, so a
fleet of workers does not reconnect in lockstep), and the log gets one line when the
database goes away and one when it is back — not a traceback per attempt. Errors that are
not about the database's availability are bugs: they keep their traceback, and back off too.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from stratabase.db.errors import sqlstate
from stratabase.exceptions import DatabaseUnavailable

#: The first wait after a failure (about; see ``Outage.delay``) and the longest, in seconds.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0

#: PostgreSQL: read-only transaction (standby, default_transaction_read_only), and the
#: classes "connection exception" (08) and "operator intervention" (57: shutdown, restart).
_PG_READ_ONLY = "25006"
_PG_UNAVAILABLE_CLASSES = ("08", "57")
_SQLITE_UNAVAILABLE = (
    "readonly database",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot serve us now, or None when ``exc`` is something else."""
    if isinstance(exc, DatabaseUnavailable):
        return exc.message
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, DBAPIError):
        code = sqlstate(exc)
        if code == _PG_READ_ONLY:
            return "the database is read-only"
        if code is not None and code.startswith(_PG_UNAVAILABLE_CLASSES):
            return f"{type(exc.orig).__name__} (SQLSTATE {code})"
        text = str(exc.orig).lower()
        for marker in _SQLITE_UNAVAILABLE:
            if marker in text:
                return str(exc.orig)
    return None


class Outage:
    """The database's availability as one worker sees it, and the backoff while it is down.

    ``failed(exc)`` returns how long to wait before the next attempt; ``succeeded()`` resets
    it. Both log only on a change of state. ``rand`` is injectable for tests.
    """

    def __init__(
        self,
        logger: logging.Logger,
        name: str,
        *,
        base: float | None = None,
        cap: float | None = None,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.logger = logger
        self.name = name
        self.base = BACKOFF_BASE if base is None else base
        self.cap = BACKOFF_CAP if cap is None else cap
        self._rand = rand
        #: Consecutive failures; 0 while the database answers.
        self.failures = 0
        self.down = False
        #: Times the database went away (for tests and reports).
        self.outages = 0

    def delay(self) -> float:
        """Half the capped exponential step, plus up to as much again at random."""
        step = min(self.cap, self.base * 2.0 ** max(0, self.failures - 1))
        return step / 2 + self._rand(0, step / 2)

    def failed(self, exc: BaseException, action: str) -> float:
        """Count a failure (logged once per outage); returns seconds to wait."""
        self.failures += 1
        reason = unavailable_reason(exc)
        if reason is None:
            self.logger.exception("%s: %s failed", self.name, action)
        elif not self.down:
            self.down = True
            self.outages += 1
            self.logger.error("%s: database unavailable, retrying (%s)", self.name, reason)
        return self.delay()

    def succeeded(self) -> None:
        """The database answered: end the outage, say so once."""
        if self.down:
            self.logger.warning(
                "%s: database back after %d failed attempts", self.name, self.failures
            )
            self.down = False
        self.failures = 0
