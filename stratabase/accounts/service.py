"""Account self-service: profile, password change and reset, email verification, sessions,
deletion and data export. Every method takes the caller's principal (or a mailed token)
and owns its transaction.

Tokens (reset, verification) are 256 random bits mailed once; only their SHA-256 is
stored. Using one is a single conditional ``UPDATE … WHERE used_at IS NULL AND expires_at
> now RETURNING``, so two requests racing with one token cannot both win. The clock is an
attribute (``clock``) so tests move time instead of sleeping.

Deleting an account (the rule, see docs/accounts.md): refused (409, field ``wallet``)
while the wallet holds a balance or open holds; otherwise the user row stays as a
"Deleted user" placeholder (email, username, name, bio, avatar and password wiped; status
``deleted``), its posts and comments stay under that placeholder, its follows, blocks,
mutes, tokens and exports are removed, and every session is revoked.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase import audit
from stratabase.accounts.inputs import ProfileUpdate
from stratabase.accounts.mailer import Mail, Mailer
from stratabase.accounts.results import ExportInfo, OwnAccount, PendingMail, SessionInfo
from stratabase.auth.password_policy import personal_problem
from stratabase.auth.passwords import check_password, hash_password
from stratabase.auth.principal import Principal
from stratabase.auth.service import Account
from stratabase.auth.tokens import hash_token, new_token
from stratabase.cache import Cache, delete_after_commit, invalidate_tags_after_commit
from stratabase.cache.keys import (
    SESSION,
    TAG_SEARCH,
    TAG_STATS,
    tag_category,
    tag_post,
    tag_user,
)
from stratabase.changes import emit
from stratabase.content.comments import tag_comments
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import UserStatus
from stratabase.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from stratabase.jobs.service import enqueue_in
from stratabase.models import (
    AccountExport,
    AccountToken,
    Block,
    Comment,
    Follow,
    LedgerAccount,
    Mute,
    Post,
    User,
    UserSession,
)
from stratabase.pagination import CursorCodec, Page, after, clamp_limit
from stratabase.schemas.jobs import JobCreate
from stratabase.search import index
from stratabase.settings import Settings

#: The job that builds an export (registered by ``stratabase.accounts.export``).
EXPORT_TASK = "account.export"
#: The kind signed into session-list cursors.
SESSIONS_CURSOR = "account-sessions"
RESET = "reset"
VERIFY = "verify"
DELETED_NAME = "Deleted user"
#: Profile fields printed beside the user's posts and comments (author cards).
_SHOWN_ON_CONTENT = frozenset({"name", "username", "avatar_url"})
#: Fields of the public profile: a change to one is a ``profile.updated`` on ``user:<id>``.
_PUBLIC_PROFILE = _SHOWN_ON_CONTENT | {"bio"}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class AccountService:
    """The account use cases of one process (``Stratabase.accounts``)."""

    def __init__(
        self,
        db: Database,
        cache: Cache,
        settings: Settings,
        mailer: Mailer,
        *,
        cursors: CursorCodec,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.cache = cache
        self.settings = settings
        self.mailer = mailer
        self.cursors = cursors
        #: Now, in UTC; tests replace it to expire tokens without sleeping.
        self.clock = clock

    # --- profile ----------------------------------------------------------------------

    async def me(self, principal: Principal) -> OwnAccount:
        """The caller's account and whether its email is verified."""
        async with self.db.session() as session:
            user = await self._user(session, principal.user_id)
            return OwnAccount(Account.from_user(user), await _verified(session, user))

    async def update_profile(self, principal: Principal, change: ProfileUpdate) -> OwnAccount:
        """Apply the fields sent; a taken username is AlreadyExists (409, ``username``). The
        public profile, user searches and cached pages naming the user are invalidated."""
        principal.require_writer()
        sent = change.model_fields_set
        values: dict[str, Any] = {k: getattr(change, k) for k in sent}
        for required in ("name", "username", "timezone"):
            if required in values and values[required] is None:
                raise InvalidInput(f"{required} cannot be null", field=required)

        async def work(session: AsyncSession) -> OwnAccount:
            user = await self._user(session, principal.user_id)
            if "username" in values and values["username"] != user.username:
                taken = await session.scalar(
                    select(User.id).where(User.username == values["username"])
                )
                if taken is not None:
                    raise _username_taken()
            for key, value in values.items():
                setattr(user, key, value)
            await session.flush()
            await index.sync_user(session, user)
            if values.keys() & _PUBLIC_PROFILE:
                await emit.profile_changed(session, user)
            stale = [tag_user(user.id), TAG_SEARCH, TAG_STATS]
            if values.keys() & _SHOWN_ON_CONTENT:
                stale += await _content_tags(session, user.id)
            invalidate_tags_after_commit(session, self.cache, stale)
            return OwnAccount(Account.from_user(user), await _verified(session, user))

        try:
            return await self.db.transaction(work)
        except AlreadyExists as error:  # a concurrent rename won the unique index
            raise _username_taken() from error

    # --- passwords --------------------------------------------------------------------

    async def change_password(self, principal: Principal, current: str, new: str) -> int:
        """Replace the password (the current one required) and revoke every other session;
        returns how many were revoked. The session making the request stays signed in."""
        async with self.db.session() as session:
            user = await self._user(session, principal.user_id)
        if not (await check_password(user.password_hash, current)).matches:
            raise PermissionDenied("the current password is wrong", field="current_password")
        _check_personal(new, user)
        new_hash = await hash_password(new)
        keep = principal.session_id

        async def work(session: AsyncSession) -> int:
            await session.execute(
                update(User).where(User.id == user.id).values(password_hash=new_hash)
            )
            revoked = await self._revoke(session, user.id, keep=keep)
            audit.record(
                session, user.id, "password.changed", "user", user.id, {"sessions": [None, revoked]}
            )
            return revoked

        return await self.db.transaction(work)

    async def request_reset(self, email: str) -> PendingMail | None:
        """A reset mail for an active account with this email, or None (unknown email). The
        route answers the same either way and delivers the mail after answering."""
        now = self.clock()
        async with self.db.session() as session:
            user = await session.scalar(select(User).where(User.email == email.lower()))
        if user is None or user.status == UserStatus.DELETED:
            return None
        lifetime = timedelta(minutes=self.settings.reset_token_minutes)
        token = await self._issue(user, RESET, lifetime, now)
        minutes = round(self.settings.reset_token_minutes)
        return PendingMail(
            Mail(
                to=user.email,
                subject="Reset your Stratabase password",
                body=(
                    f"Someone asked to reset the password of {user.username}.\n\n"
                    f"Reset token (good once, for {minutes} minutes):\n{token}\n\n"
                    "POST it with a new password to /v1/account/password-reset/confirm.\n"
                    "If you did not ask, ignore this message."
                ),
            )
        )

    async def send_reset(self, email: str) -> None:
        """Look the email up and mail a reset token if it has an account: the whole of a
        reset request, run after the answer so its timing cannot tell accounts apart."""
        pending = await self.request_reset(email)
        if pending is not None:
            await self.deliver(pending)

    async def confirm_reset(self, token: str, new_password: str) -> None:
        """Set a new password with a mailed reset token (good once, before it expires) and
        revoke every session of the account."""
        new_hash = await hash_password(new_password)

        async def work(session: AsyncSession) -> None:
            row = await self._consume(session, token, RESET)
            user = await self._user(session, row.user_id)
            if user.status == UserStatus.DELETED:
                raise _bad_token()
            _check_personal(new_password, user)
            user.password_hash = new_hash
            # Other reset tokens of the account die with this one.
            await session.execute(
                update(AccountToken)
                .where(
                    AccountToken.user_id == user.id,
                    AccountToken.purpose == RESET,
                    AccountToken.used_at.is_(None),
                )
                .values(used_at=self.clock())
            )
            revoked = await self._revoke(session, user.id, keep=None)
            audit.record(
                session, user.id, "password.reset", "user", user.id, {"sessions": [None, revoked]}
            )

        await self.db.transaction(work)

    # --- email verification -----------------------------------------------------------

    async def request_verification(self, principal: Principal) -> PendingMail:
        """A verification mail for the caller's current email (Conflict if verified)."""
        now = self.clock()
        async with self.db.session() as session:
            user = await self._user(session, principal.user_id)
            if await _verified(session, user):
                raise Conflict("your email is already verified", field="email")
        lifetime = timedelta(hours=self.settings.verify_token_hours)
        token = await self._issue(user, VERIFY, lifetime, now)
        return PendingMail(
            Mail(
                to=user.email,
                subject="Verify your Stratabase email",
                body=(
                    f"Verification token for {user.username} (good once):\n{token}\n\n"
                    "POST it to /v1/account/verify-email."
                ),
            )
        )

    async def verify_email(self, token: str) -> None:
        """Mark the email the token was sent to as verified (the token is then spent)."""

        async def work(session: AsyncSession) -> None:
            row = await self._consume(session, token, VERIFY)
            user = await self._user(session, row.user_id)
            if user.email != row.email:
                raise _bad_token()  # the account's email changed since

        await self.db.transaction(work)

    async def deliver(self, pending: PendingMail) -> None:
        """Send a message the service prepared."""
        await self.mailer.send(pending.mail)

    # --- sessions ---------------------------------------------------------------------

    async def sessions(
        self, principal: Principal, *, cursor: str | None, limit: int | None
    ) -> Page[SessionInfo]:
        """The caller's live sessions, newest first (keyset pages)."""
        size = clamp_limit(limit)
        now = self.clock()
        query = (
            select(UserSession)
            .where(
                UserSession.user_id == principal.user_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
            )
            .order_by(UserSession.id.desc())
            .limit(size + 1)
        )
        if cursor is not None:
            (last,) = self.cursors.decode(SESSIONS_CURSOR, cursor, 1)
            query = query.where(after([UserSession.id], [last], descending=True))
        async with self.db.session() as session:
            rows = list((await session.scalars(query)).all())
        more = len(rows) > size
        rows = rows[:size]
        items = [
            SessionInfo(
                id=row.id,
                device=row.device,
                ip=row.ip,
                user_agent=row.user_agent,
                created_at=_aware(row.created_at),
                last_seen_at=_aware(row.last_seen_at) if row.last_seen_at else None,
                expires_at=_aware(row.expires_at),
                current=row.id == principal.session_id,
            )
            for row in rows
        ]
        next_cursor = self.cursors.encode(SESSIONS_CURSOR, [rows[-1].id]) if more else None
        return Page(items, next_cursor)

    async def revoke_session(self, principal: Principal, session_id: int) -> None:
        """Revoke one of the caller's sessions; another user's is NotFound, as is one
        already revoked."""

        async def work(session: AsyncSession) -> None:
            result = await session.execute(
                update(UserSession)
                .where(
                    UserSession.id == session_id,
                    UserSession.user_id == principal.user_id,
                    UserSession.revoked_at.is_(None),
                )
                .values(revoked_at=self.clock())
                .returning(UserSession.token_hash)
            )
            hashes = list(result.scalars())
            if not hashes:
                raise NotFound(f"you have no live session {session_id}", field="session_id")
            audit.record(session, principal.user_id, "session.revoked", "user_session", session_id)
            delete_after_commit(session, self.cache, [SESSION.key(h) for h in hashes])

        await self.db.transaction(work)

    async def revoke_other_sessions(self, principal: Principal) -> int:
        """Revoke every session of the caller but the current one; returns how many."""
        keep = principal.session_id

        async def work(session: AsyncSession) -> int:
            revoked = await self._revoke(session, principal.user_id, keep=keep)
            audit.record(
                session,
                principal.user_id,
                "sessions.revoked",
                "user",
                principal.user_id,
                {"sessions": [None, revoked]},
            )
            return revoked

        return await self.db.transaction(work)

    # --- deletion ---------------------------------------------------------------------

    async def delete_account(self, principal: Principal, password: str) -> None:
        """Delete the caller's account by the module's rule (password required; refused
        with a non-empty wallet)."""
        async with self.db.session() as session:
            user = await self._user(session, principal.user_id)
        if not (await check_password(user.password_hash, password)).matches:
            raise PermissionDenied("the password is wrong", field="password")

        async def work(session: AsyncSession) -> None:
            wallets = (
                await session.scalars(
                    select(LedgerAccount).where(LedgerAccount.user_id == user.id).with_for_update()
                )
            ).all()
            if any(w.balance != 0 or w.pending_debits != 0 for w in wallets):
                raise Conflict(
                    "your wallet holds tokens or open holds: spend or transfer them first",
                    field="wallet",
                )
            row = await self._user(session, user.id)
            neighbours = await _neighbours(session, user.id)
            for model, left, right in (
                (Follow, Follow.follower_id, Follow.followee_id),
                (Block, Block.blocker_id, Block.blocked_id),
                (Mute, Mute.muter_id, Mute.muted_id),
            ):
                await session.execute(delete(model).where(or_(left == user.id, right == user.id)))
            await session.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
            await session.execute(delete(AccountExport).where(AccountExport.user_id == user.id))
            row.email = f"deleted-{user.id}@deleted.invalid"
            row.username = f"deleted-{user.id}"
            row.name = DELETED_NAME
            row.bio = None
            row.avatar_url = None
            row.password_hash = None
            row.status = UserStatus.DELETED
            await session.flush()
            await index.sync_user(session, row)
            await self._revoke(session, user.id, keep=None)
            audit.record(session, user.id, "account.deleted", "user", user.id)
            tags = [tag_user(user.id), TAG_SEARCH, TAG_STATS, *map(tag_user, neighbours)]
            tags += await _content_tags(session, user.id)
            invalidate_tags_after_commit(session, self.cache, tags)

        await self.db.transaction(work)

    # --- export -----------------------------------------------------------------------

    async def start_export(self, principal: Principal) -> ExportInfo:
        """Queue an export of the caller's data (the ``account.export`` job builds it); while
        one is still pending, that one is answered instead of queueing another."""

        async def work(session: AsyncSession) -> ExportInfo:
            pending = await session.scalar(
                select(AccountExport)
                .where(
                    AccountExport.user_id == principal.user_id,
                    AccountExport.status == "pending",
                )
                .order_by(AccountExport.id.desc())
                .limit(1)
            )
            if pending is not None:
                return _export_info(pending, with_data=False)
            row = AccountExport(user_id=principal.user_id, status="pending")
            session.add(row)
            await session.flush()
            spec = JobCreate(task=EXPORT_TASK, payload={"export_id": row.id}, max_attempts=3)
            await enqueue_in(session, [spec])
            return _export_info(row, with_data=False)

        return await self.db.transaction(work)

    async def get_export(self, principal: Principal, export_id: int) -> ExportInfo:
        """One of the caller's exports, with its document once done; another user's is
        NotFound (its existence is not disclosed)."""
        async with self.db.session() as session:
            row = await session.get(AccountExport, export_id)
        if row is None or row.user_id != principal.user_id:
            raise NotFound(f"you have no export {export_id}", field="export_id")
        return _export_info(row, with_data=True)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    async def _user(session: AsyncSession, user_id: int) -> User:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound("the account no longer exists")
        return user

    async def _issue(self, user: User, purpose: str, lifetime: timedelta, now: datetime) -> str:
        token = new_token()

        async def work(session: AsyncSession) -> None:
            session.add(
                AccountToken(
                    user_id=user.id,
                    purpose=purpose,
                    token_hash=hash_token(token),
                    email=user.email,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )

        await self.db.transaction(work)
        return token

    async def _consume(self, session: AsyncSession, token: str, purpose: str) -> AccountToken:
        """Spend a token: one conditional UPDATE, so it is good once even under races."""
        digest = hash_token(token)
        now = self.clock()
        result = await session.execute(
            update(AccountToken)
            .where(
                AccountToken.token_hash == digest,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(AccountToken.id)
        )
        token_id = result.scalar_one_or_none()
        if token_id is None:
            raise _bad_token()
        row = await session.get(AccountToken, token_id)
        # The lookup went by hash already; the compare is constant-time all the same.
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise _bad_token()
        return row

    async def _revoke(self, session: AsyncSession, user_id: int, *, keep: int | None) -> int:
        query = update(UserSession).where(
            UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(UserSession.id != keep)
        result = await session.execute(
            query.values(revoked_at=self.clock()).returning(UserSession.token_hash)
        )
        hashes = list(result.scalars())
        delete_after_commit(session, self.cache, [SESSION.key(h) for h in hashes])
        return len(hashes)


async def _verified(session: AsyncSession, user: User) -> bool:
    found = await session.scalar(
        select(
            exists().where(
                AccountToken.user_id == user.id,
                AccountToken.purpose == VERIFY,
                AccountToken.used_at.is_not(None),
                AccountToken.email == user.email,
            )
        )
    )
    return bool(found)


async def _content_tags(session: AsyncSession, user_id: int) -> list[str]:
    """Cached pages that show the user as an author: their posts' pages and category
    feeds, and the comment pages of posts they commented on."""
    posts = (
        await session.execute(select(Post.id, Post.category_id).where(Post.author_id == user_id))
    ).all()
    commented = await session.scalars(
        select(Comment.post_id).where(Comment.author_id == user_id).distinct()
    )
    tags = {tag_post(post_id) for post_id, _ in posts}
    tags |= {tag_category(category) for _, category in posts if category is not None}
    tags |= {tag_comments(post_id) for post_id in commented}
    return sorted(tags)


async def _neighbours(session: AsyncSession, user_id: int) -> set[int]:
    """Users whose follow counters change when this one's edges go."""
    followers = await session.scalars(
        select(Follow.follower_id).where(Follow.followee_id == user_id)
    )
    followees = await session.scalars(
        select(Follow.followee_id).where(Follow.follower_id == user_id)
    )
    return {*followers, *followees}


def _check_personal(password: str, user: User) -> None:
    problem = personal_problem(password, username=user.username, email=user.email)
    if problem is not None:
        raise InvalidInput(problem, field="new_password")


def _bad_token() -> InvalidInput:
    return InvalidInput("the token is invalid, expired or already used", field="token")


def _username_taken() -> AlreadyExists:
    return AlreadyExists("this username is taken", field="username")


def _export_info(row: AccountExport, *, with_data: bool) -> ExportInfo:
    return ExportInfo(
        id=row.id,
        status=row.status,
        created_at=_aware(row.created_at),
        finished_at=_aware(row.finished_at) if row.finished_at else None,
        data=row.data if with_data else None,
    )


__all__ = ["EXPORT_TASK", "AccountService"]
