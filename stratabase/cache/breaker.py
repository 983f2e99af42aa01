"""A circuit breaker for the Redis connection: fail fast while it is down, recover alone.

Closed: calls go through; ``threshold`` consecutive connection failures open it, and so does
one failure reported with ``trip=True`` (a timeout: each one cost the caller the whole
timeout, while a refused connection costs nothing). Open: calls fail at once (the two-tier
cache then answers from its loaders, and health says *degraded*). After ``cooldown``
seconds one trial call is let through (half-open): its success closes the circuit and runs
the recovery callbacks; its failure opens it again. The cache makes that trial a
background PING, so no request waits on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

logger = logging.getLogger("stratabase.cache")

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """``name`` says whose circuit it is in the log ("cache", "rate limiter")."""

    def __init__(
        self,
        *,
        name: str = "cache",
        threshold: int = 3,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_started = 0.0
        self._on_recover: list[Callable[[], None]] = []
        self._on_failure: list[Callable[[], None]] = []
        #: How many times the circuit opened (for the health report).
        self.trips = 0

    @property
    def state(self) -> State:
        """``closed``, ``open``, or ``half-open`` once the cooldown has passed."""
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return self._state

    @property
    def closed(self) -> bool:
        """True while calls go to Redis freely."""
        return self._state == "closed"

    def on_recover(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the circuit closes again (e.g. replay what was missed)."""
        self._on_recover.append(callback)

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on every connection failure (Redis may lose or miss writes)."""
        self._on_failure.append(callback)

    def allow(self) -> bool:
        """May a call go to Redis now?"""
        if self._state == "closed":
            return True
        now = self._clock()
        if self._state == "open":
            if now - self._opened_at < self.cooldown:
                return False
            self._state = "half-open"
            self._trial_started = now
            return True
        # half-open: one trial at a time; a trial that hangs longer than cooldown is replaced
        if now - self._trial_started >= self.cooldown:
            self._trial_started = now
            return True
        return False

    def success(self) -> None:
        """A call answered: reset the failure count; close an open circuit (and say so)."""
        if self._state == "closed":
            self._failures = 0
            return
        logger.warning("Redis answered again: %s circuit closed", self.name)
        self._state = "closed"
        self._failures = 0
        for callback in self._on_recover:
            try:
                callback()
            except Exception:
                logger.exception("%s recovery callback failed", self.name)

    @property
    def failures(self) -> int:
        """Consecutive failures so far (0 after a success)."""
        return self._failures

    def failure(self, *, trip: bool = False) -> None:
        """Count a connection failure; ``trip`` opens the circuit at once (a timeout)."""
        self._failures += 1
        for callback in self._on_failure:
            try:
                callback()
            except Exception:
                logger.exception("cache failure callback failed")
        if self._state == "half-open" or (
            self._state == "closed" and (trip or self._failures >= self.threshold)
        ):
            if self._state == "closed":
                logger.error("Redis is unreachable: %s circuit open, serving degraded", self.name)
                self.trips += 1
            self._state = "open"
            self._opened_at = self._clock()
