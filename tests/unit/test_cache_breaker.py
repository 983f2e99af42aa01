"""The circuit breaker: refusals open it after ``threshold`` in a row, a timeout at once."""

from __future__ import annotations

from stratabase.cache.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusals_open_after_the_threshold_a_timeout_at_once() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=1.0, clock=Clock())
    breaker.failure()
    breaker.failure()
    assert breaker.closed and breaker.failures == 2
    breaker.success()
    assert breaker.failures == 0
    breaker.failure(trip=True)
    assert breaker.state == "open" and breaker.trips == 1


def test_one_trial_per_cooldown_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=1.0, clock=clock)
    recovered: list[bool] = []
    breaker.on_recover(lambda: recovered.append(True))
    breaker.failure()
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # the trial failed: open again, for a whole cooldown
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()
    breaker.success()
    assert breaker.closed and recovered == [True]
