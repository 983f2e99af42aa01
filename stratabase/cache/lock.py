"""A distributed lock: ``SET key token NX PX ttl``, released only by its owner.

The token makes release safe (a holder whose lock expired cannot delete the next owner's
lock); the TTL makes a crashed holder harmless. Waiting never holds a pooled connection:
a waiter sleeps with jittered backoff between short probes, so 1000 waiters do not pin the
pool that the holder needs to write its result.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from typing import Any

#: Delete the lock only if we still own it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: Extend the lock only if we still own it.
EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

#: First and largest pause between two probes of a waiter.
POLL_MIN = 0.002
POLL_MAX = 0.05


def backoff(attempt: int) -> float:
    """Jittered exponential pause for the ``attempt``-th probe."""
    return random.uniform(POLL_MIN, min(POLL_MAX, POLL_MIN * 2**attempt))


class RedisLock:
    """One lock key; ``client`` is a redis-py asyncio client (borrowed per command)."""

    def __init__(self, client: Any, key: str, ttl: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.token = secrets.token_hex(12)
        self._release = client.register_script(RELEASE)
        self._extend = client.register_script(EXTEND)

    async def try_acquire(self) -> bool:
        """Take the lock if free (SET NX PX); one round trip."""
        return bool(await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def acquire(self, timeout: float) -> bool:
        """Probe until acquired or ``timeout`` seconds passed; no connection held between."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            if await self.try_acquire():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(backoff(attempt))
            attempt += 1

    async def release(self) -> bool:
        """Release the lock if this holder still owns it (a Lua check-and-delete)."""
        return bool(await self._release(keys=[self.key], args=[self.token]))

    async def extend(self) -> bool:
        """Renew the lock's expiry if this holder still owns it."""
        return bool(await self._extend(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def locked(self) -> bool:
        """True when someone holds the lock."""
        return bool(await self.client.exists(self.key))
