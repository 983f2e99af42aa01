"""argon2id password hashing, run off the event loop (it is deliberately slow).

A sign-in must cost the same whether the email exists or not, or response times list the
accounts. Unknown emails are checked against a dummy hash made by the current hasher; a
stored hash made with other (lighter) parameters — seeded demo accounts, or accounts from
before a cost increase — is checked and then padded with that same dummy check, and is
replaced by a current hash at its next successful sign-in (``check_password``'s ``rehash``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@functools.cache
def _hasher() -> PasswordHasher:
    # Built on first use, not at import: argon2-cffi's defaults are RFC 9106's low-memory
    # profile (argon2id, t=3, m=64 MiB, p=4).
    return PasswordHasher()


def hash_password_sync(password: str) -> str:
    """The argon2id hash, on this thread (seeding, tools); servers use ``hash_password``."""
    return _hasher().hash(password)


async def hash_password(password: str) -> str:
    """The argon2id hash to store; the CPU work runs in a worker thread."""
    return await asyncio.to_thread(hash_password_sync, password)


@dataclass(frozen=True)
class PasswordCheck:
    """Whether a password matched, and a fresh hash when the stored one is outdated."""

    matches: bool
    #: A hash of the same password with the current parameters, to store in place of an
    #: outdated one (only on a match).
    rehash: str | None = None


async def check_password(stored_hash: str | None, password: str) -> PasswordCheck:
    """Whether ``password`` matches ``stored_hash`` (an account without a hash never
    matches), at the cost of one current-parameter verify whatever the stored hash is."""
    return await asyncio.to_thread(_check_sync, stored_hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an account without a hash never matches."""
    return (await check_password(stored_hash, password)).matches


def _check_sync(stored_hash: str | None, password: str) -> PasswordCheck:
    hasher = _hasher()
    if not stored_hash:
        _dummy_verify(hasher, password)
        return PasswordCheck(False)
    try:
        outdated = hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, VerificationError, ValueError):
        _dummy_verify(hasher, password)  # not an argon2 hash at all: nothing can match it
        return PasswordCheck(False)
    matches: bool
    try:
        matches = hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matches = False
    if not outdated:
        return PasswordCheck(matches)
    if matches:
        # Hashing at the current cost costs what the padding would have.
        return PasswordCheck(True, rehash=hasher.hash(password))
    _dummy_verify(hasher, password)
    return PasswordCheck(False)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Made by ``hasher`` itself, so checking against it costs what a current hash costs."""
    return hasher.hash("stratabase-dummy-password")


def _dummy_verify(hasher: PasswordHasher, password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        hasher.verify(_dummy_hash(hasher), password)
