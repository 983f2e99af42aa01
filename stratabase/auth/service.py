"""Register, log in, authenticate a bearer token, log out (one session or all of them).

Tokens are opaque: the client holds ``secrets.token_urlsafe(32)``, the ``sessions`` row holds
its SHA-256, so a leaked database cannot be replayed. Revocation is a timestamp checked on
every request, so logout takes effect at once.

Token lookups are cached (``session:<token hash>``, at most 5 min, never served stale).
Whatever revokes or changes a session (logout, log out everywhere, a status change) deletes
the keys of the sessions it touched after its transaction commits (the hashes come back
from the same UPDATE), so a revoked token is refused by the very next request, in this
process or any other sharing the Redis; a lookup that was in flight cannot put the old
answer back (the fill guard sees the delete). Expiry is checked on every hit.

Sign-up and status changes also invalidate ``search`` (cached user search pages) and
``stats`` (platform counts) after commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase import audit
from stratabase.auth.passwords import check_password, hash_password
from stratabase.auth.principal import Principal
from stratabase.auth.tokens import hash_token, new_token
from stratabase.cache import Cache, delete_after_commit, invalidate_tags_after_commit
from stratabase.cache.keys import SESSION, TAG_SEARCH, TAG_STATS, tag_user
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role, UserStatus
from stratabase.exceptions import InvalidInput, NotFound, PermissionDenied
from stratabase.models import User, UserSession
from stratabase.schemas.accounts import UserCreate
from stratabase.search import index

#: How long a sign-in lasts.
SESSION_TTL = timedelta(days=30)
#: Seconds a token lookup stays cached. Every API path that revokes or changes a session
#: drops it at once; this bounds only changes made outside the API (SQL, scripts).
SESSION_CACHE_TTL = 300.0
#: ``last_seen_at`` is refreshed at most this often, so reads stay read-only.
LAST_SEEN_GRANULARITY = timedelta(minutes=5)


@dataclass(frozen=True)
class ClientInfo:
    """Where a sign-in comes from, recorded on its session."""

    device: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Account:
    """A user's account as its owner (or an admin) sees it; never the password hash."""

    id: int
    email: str
    username: str
    name: str
    timezone: str
    role: Role
    status: UserStatus
    created_at: datetime
    updated_at: datetime
    avatar_url: str | None = None
    bio: str | None = None
    organization_id: int | None = None

    @classmethod
    def from_user(cls, user: User) -> Account:
        """From the ORM row (loaded in the session that read it)."""
        return cls(
            id=user.id,
            email=user.email,
            username=user.username,
            name=user.name,
            timezone=user.timezone,
            role=Role(user.role),
            status=UserStatus(user.status),
            created_at=user.created_at,
            updated_at=user.updated_at,
            avatar_url=user.avatar_url,
            bio=user.bio,
            organization_id=user.organization_id,
        )


@dataclass(frozen=True)
class IssuedSession:
    """A sign-in: the bearer token (shown once: only its hash is stored) and its account."""

    user: Account
    token: str
    session_id: int
    expires_at: datetime


async def _issue(session: AsyncSession, user: User, client: ClientInfo) -> IssuedSession:
    token = new_token()
    now = utcnow()
    row = UserSession(
        user_id=user.id,
        token_hash=hash_token(token),
        device=(client.device or None) and client.device[:100],
        ip=(client.ip or None) and client.ip[:45],
        user_agent=(client.user_agent or None) and client.user_agent[:500],
        created_at=now,
        expires_at=now + SESSION_TTL,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    return IssuedSession(
        user=Account.from_user(user), token=token, session_id=row.id, expires_at=row.expires_at
    )


async def register(
    db: Database, cache: Cache | None, data: UserCreate, client: ClientInfo
) -> IssuedSession:
    """Create an account and sign it in; a taken email or username is AlreadyExists. With
    ``cache``, the new user shows in cached user searches and platform stats at once."""
    password_hash = await hash_password(data.password.get_secret_value())

    async def work(session: AsyncSession) -> IssuedSession:
        user = User(
            email=data.email,
            username=data.username,
            name=data.name,
            timezone=data.timezone,
            avatar_url=data.avatar_url,
            bio=data.bio,
            role=Role.USER,
            status=UserStatus.ACTIVE,
            password_hash=password_hash,
        )
        session.add(user)
        await session.flush()
        await index.sync_user(session, user)
        if cache is not None:
            invalidate_tags_after_commit(session, cache, [TAG_SEARCH, TAG_STATS])
        return await _issue(session, user, client)

    return await db.transaction(work)


async def login(
    db: Database, email: str, password: str, client: ClientInfo
) -> IssuedSession | None:
    """A new session, or None when the email/password pair is wrong (or the account deleted).

    Every path costs one argon2 check at the current parameters, so timing does not tell
    which emails have accounts; a hash with outdated parameters is upgraded on success."""
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.email == email.lower()))
    stored = user.password_hash if user is not None else None
    check = await check_password(stored, password)
    if not check.matches or user is None or user.status == UserStatus.DELETED:
        await _login_failed(db, user.id if user is not None else None, email, client)
        return None

    async def work(session: AsyncSession) -> IssuedSession:
        if check.rehash is not None:
            # Only if the hash is still the one checked: a concurrent change wins.
            await session.execute(
                update(User)
                .where(User.id == user.id, User.password_hash == stored)
                .values(password_hash=check.rehash, updated_at=User.updated_at)
            )
        return await _issue(session, user, client)

    return await db.transaction(work)


async def _login_failed(db: Database, user_id: int | None, email: str, client: ClientInfo) -> None:
    """Audit a refused sign-in (the same write whether the account exists or not); the
    email is kept only as a digest."""
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:32]

    async def work(session: AsyncSession) -> None:
        audit.record(
            session,
            user_id,
            "auth.login_failed",
            "user",
            user_id,
            {"email_sha256": [None, digest], "device": [None, client.device]},
        )

    await db.transaction(work)


async def open_session(db: Database, user_id: int, client: ClientInfo) -> IssuedSession:
    """Sign a known user in without a password (admin tools, tests, single sign-on)."""

    async def work(session: AsyncSession) -> IssuedSession:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist", field="user_id")
        return await _issue(session, user, client)

    return await db.transaction(work)


async def _lookup(db: Database, token_hash: str, now: datetime) -> dict[str, Any] | None:
    async with db.session() as session:
        row = (
            await session.execute(
                select(
                    UserSession.id,
                    UserSession.last_seen_at,
                    UserSession.expires_at,
                    User.id,
                    User.role,
                    User.status,
                )
                .join(User, User.id == UserSession.user_id)
                .where(
                    UserSession.token_hash == token_hash,
                    UserSession.revoked_at.is_(None),
                    UserSession.expires_at > now,
                    User.status != UserStatus.DELETED,
                )
            )
        ).first()
    if row is None:
        return None
    session_id, last_seen, expires_at, user_id, role, status = row
    return {
        "session_id": session_id,
        "user_id": user_id,
        "role": str(Role(role).value),
        "status": str(UserStatus(status).value),
        "expires_at": _epoch(expires_at),
        "last_seen_at": _epoch(last_seen) if last_seen is not None else None,
    }


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Unknown(Exception):
    """No live session for the token: not cached (a bad token must not fill the cache)."""


async def authenticate(db: Database, cache: Cache, token: str) -> Principal | None:
    """The principal behind a bearer token, or None if it is unknown, expired or revoked."""
    now = utcnow()
    token_hash = hash_token(token)

    async def load() -> dict[str, Any]:
        found = await _lookup(db, token_hash, now)
        if found is None:
            raise _Unknown
        return found

    try:
        found = await cache.get_or_load(SESSION.key(token_hash), load, ttl=SESSION_CACHE_TTL)
    except _Unknown:
        return None
    if found["expires_at"] <= now.timestamp():
        return None
    last_seen = found["last_seen_at"]
    if last_seen is None or now.timestamp() - last_seen > LAST_SEEN_GRANULARITY.total_seconds():
        await _touch(db, cache, found["session_id"], token_hash, now)
    return Principal(
        user_id=found["user_id"],
        role=Role(found["role"]),
        status=UserStatus(found["status"]),
        session_id=found["session_id"],
    )


async def _touch(
    db: Database, cache: Cache, session_id: int, token_hash: str, now: datetime
) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
        )
        delete_after_commit(session, cache, [SESSION.key(token_hash)])

    await db.transaction(work)


async def logout(db: Database, cache: Cache, principal: Principal) -> None:
    """Revoke the caller's session (the one its token opened) now; nothing without one."""
    session_id = principal.session_id
    if session_id is None:
        return

    async def work(session: AsyncSession) -> None:
        result = await session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(UserSession.token_hash)
        )
        delete_after_commit(session, cache, [SESSION.key(h) for h in result.scalars()])
        audit.record(session, principal.user_id, "session.revoked", "user_session", session_id)

    await db.transaction(work)


async def logout_all(db: Database, cache: Cache, principal: Principal) -> int:
    """Revoke every live session of the caller ("log out everywhere"); returns how many."""
    user_id = principal.user_id

    async def work(session: AsyncSession) -> int:
        result = await session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(UserSession.token_hash)
        )
        hashes = list(result.scalars())
        delete_after_commit(session, cache, [SESSION.key(h) for h in hashes])
        audit.record(
            session,
            user_id,
            "session.revoked_all",
            "user",
            user_id,
            {"sessions_revoked": [None, len(hashes)]},
        )
        return len(hashes)

    return await db.transaction(work)


async def set_user_status(db: Database, cache: Cache, user_id: int, status: UserStatus) -> None:
    """Suspend, reactivate or delete an account (admin tools); takes effect on the next
    request of every live session, whichever process serves it."""
    if not isinstance(status, UserStatus):
        raise InvalidInput(f"unknown user status {status!r}", field="status")

    async def work(session: AsyncSession) -> None:
        await apply_user_status(session, cache, user_id, status)

    await db.transaction(work)


async def apply_user_status(
    session: AsyncSession, cache: Cache, user_id: int, status: UserStatus
) -> UserStatus:
    """:func:`set_user_status` inside the caller's transaction (moderation decisions);
    returns the status before. The change is audited (``user.status_changed``)."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    before = UserStatus(user.status)
    user.status = status
    await session.flush()
    await index.sync_user(session, user)  # a deleted account leaves the index
    await _forget_sessions(session, cache, user_id)
    invalidate_tags_after_commit(session, cache, [tag_user(user_id), TAG_SEARCH, TAG_STATS])
    audit.record(
        session,
        None,
        "user.status_changed",
        "user",
        user_id,
        {"status": [before.value, UserStatus(status).value]},
    )
    return before


async def account(db: Database, principal: Principal) -> Account:
    """The caller's own account; NotFound when it no longer exists."""
    async with db.session() as session:
        user = await session.get(User, principal.user_id)
        if user is None:
            raise NotFound("your account no longer exists")
        return Account.from_user(user)


async def _forget_sessions(session: AsyncSession, cache: Cache, user_id: int) -> None:
    """Drop the cached lookups of the user's live sessions after commit (they carry the
    role and status), so the next request of each sees the change."""
    hashes = await session.scalars(
        select(UserSession.token_hash).where(
            UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
        )
    )
    delete_after_commit(session, cache, [SESSION.key(h) for h in hashes])


async def set_user_role(
    db: Database, cache: Cache, admin: Principal, user_id: int, role: Role
) -> Account:
    """An admin grants or takes back a role; effective on the user's next request and
    audited (``user.role_changed``). An admin cannot change their own role."""
    if not admin.is_admin:
        raise PermissionDenied("administrators only")
    if user_id == admin.user_id:
        raise InvalidInput("you cannot change your own role", field="user_id")

    async def work(session: AsyncSession) -> Account:
        user = await session.get(User, user_id)
        if user is None or user.status == UserStatus.DELETED:
            raise NotFound(f"user {user_id} does not exist", field="user_id")
        before = Role(user.role)
        user.role = role
        await session.flush()
        await _forget_sessions(session, cache, user_id)
        audit.record(
            session,
            admin.user_id,
            "user.role_changed",
            "user",
            user_id,
            {"role": [before.value, Role(role).value]},
        )
        return Account.from_user(user)

    return await db.transaction(work)
