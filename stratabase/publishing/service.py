"""Organizations: create, members and roles, invitations by email token, leave, transfer.

Roles: ``owner`` (one per organization, moved by :func:`transfer_ownership`), ``admin``
(members, invitations, projects, generation) and ``member`` (reads; planning notes and
agent memory). A caller who is not a member is told the organization does not exist.

Invitations: a random token is answered once to the admin who invites (to pass on by
email); only its SHA-256 is stored. It is good for :data:`INVITATION_TTL`, for the address
it was made for, once: accepting or declining marks it used by a conditional update, so of
two concurrent uses one wins. A new invitation to the same address revokes a pending one.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.auth.tokens import hash_token, new_token
from stratabase.content.slugs import slugify
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import InvitationStatus, OrgRole, Plan
from stratabase.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from stratabase.jobs.queue import rowcount
from stratabase.models import (
    Organization,
    OrganizationInvitation,
    OrganizationMember,
    PlanLimit,
    User,
)
from stratabase.pagination import CursorCodec, Page
from stratabase.publishing import queries
from stratabase.publishing.inputs import InvitationCreate, OrganizationCreate
from stratabase.publishing.results import (
    InvitationIssued,
    InvitationRead,
    MemberRead,
    OrganizationRead,
)

#: How long an invitation token may be used.
INVITATION_TTL = timedelta(days=7)


async def create_organization(
    db: Database, principal: Principal, body: OrganizationCreate
) -> OrganizationRead:
    """A new organization on the free plan (its daily token quota from ``plan_limits``),
    owned by the caller. A given slug that is taken is 409; a derived one gets a suffix."""
    principal.require_writer()

    async def work(session: AsyncSession) -> OrganizationRead:
        slug = body.slug
        if slug is None:
            slug = slugify(body.name, max_length=80)
            if await session.scalar(select(Organization.id).where(Organization.slug == slug)):
                slug = f"{slug}-{secrets.token_hex(3)}"
        quota = await session.scalar(
            select(PlanLimit.token_quota).where(PlanLimit.plan == Plan.FREE)
        )
        org = Organization(name=body.name, slug=slug, plan=Plan.FREE, token_quota=quota or 0)
        session.add(org)
        await session.flush()
        session.add(
            OrganizationMember(
                organization_id=org.id, user_id=principal.user_id, role=OrgRole.OWNER
            )
        )
        await session.flush()
        return await queries.organization(session, org.id, principal.user_id)

    return await db.transaction(work)


async def get_organization(
    db: Database, principal: Principal, organization_id: int
) -> OrganizationRead:
    """An organization the caller belongs to."""
    async with db.session() as session:
        return await queries.organization(session, organization_id, principal.user_id)


async def list_organizations(
    db: Database, principal: Principal, *, codec: CursorCodec, cursor: str | None, limit: int
) -> Page[OrganizationRead]:
    """The caller's organizations, by id."""
    async with db.session() as session:
        return await queries.my_organizations(
            session, principal.user_id, codec=codec, cursor=cursor, limit=limit
        )


async def list_members(
    db: Database,
    principal: Principal,
    organization_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[MemberRead]:
    """The organization's members by user id (any member may see them)."""
    async with db.session() as session:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.MEMBER)
        statement = (
            select(OrganizationMember, User.username, User.name)
            .join(User, User.id == OrganizationMember.user_id)
            .where(OrganizationMember.organization_id == organization_id)
        )
        rows, next_cursor = await queries.keyset(
            session,
            statement,
            [OrganizationMember.user_id],
            codec=codec,
            kind=f"members:{organization_id}",
            cursor=cursor,
            limit=limit,
            descending=False,
        )
    return Page([_member(m, username, name) for m, username, name in rows], next_cursor)


def _member(row: OrganizationMember, username: str, name: str) -> MemberRead:
    return MemberRead(
        user_id=row.user_id, username=username, name=name, role=row.role, joined_at=row.created_at
    )


async def _membership(
    session: AsyncSession, organization_id: int, user_id: int
) -> OrganizationMember:
    row = await session.get(OrganizationMember, (organization_id, user_id))
    if row is None:
        raise NotFound(f"user {user_id} is not a member", field="user_id")
    return row


async def change_role(
    db: Database, principal: Principal, organization_id: int, user_id: int, role: str
) -> MemberRead:
    """Make a member an admin or a member (admins and the owner may; the owner's role
    moves only by transfer)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> MemberRead:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.ADMIN)
        member = await _membership(session, organization_id, user_id)
        if member.role == OrgRole.OWNER:
            raise Conflict("the owner's role changes only by a transfer of ownership", field="role")
        member.role = OrgRole(role)
        user = await session.get(User, user_id)
        assert user is not None
        await session.flush()
        return _member(member, user.username, user.name)

    return await db.transaction(work)


async def remove_member(
    db: Database, principal: Principal, organization_id: int, user_id: int
) -> None:
    """Remove a member (admins and the owner may; never the owner, who transfers first)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> None:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.ADMIN)
        member = await _membership(session, organization_id, user_id)
        if member.role == OrgRole.OWNER:
            raise Conflict("the owner cannot be removed; transfer ownership first", field="user_id")
        await session.delete(member)

    await db.transaction(work)


async def leave(db: Database, principal: Principal, organization_id: int) -> None:
    """Leave an organization; its last owner cannot (409: transfer ownership first)."""

    async def work(session: AsyncSession) -> None:
        role = await queries.require_role(
            session, organization_id, principal.user_id, OrgRole.MEMBER
        )
        if role == OrgRole.OWNER:
            # Locked: two owners leaving at once must not both see the other stay.
            owners = await session.scalar(
                select(func.count()).select_from(
                    select(OrganizationMember.user_id)
                    .where(
                        OrganizationMember.organization_id == organization_id,
                        OrganizationMember.role == OrgRole.OWNER,
                    )
                    .with_for_update()
                    .subquery()
                )
            )
            if (owners or 0) <= 1:
                raise Conflict(
                    "the last owner cannot leave; transfer ownership first",
                    field="organization_id",
                )
        await session.execute(
            delete(OrganizationMember).where(
                OrganizationMember.organization_id == organization_id,
                OrganizationMember.user_id == principal.user_id,
            )
        )

    await db.transaction(work)


async def transfer_ownership(
    db: Database, principal: Principal, organization_id: int, user_id: int
) -> OrganizationRead:
    """The owner hands the organization to another member and becomes an admin."""
    principal.require_writer()

    async def work(session: AsyncSession) -> OrganizationRead:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.OWNER)
        if user_id == principal.user_id:
            raise InvalidInput("you already own this organization", field="user_id")
        member = await _membership(session, organization_id, user_id)
        member.role = OrgRole.OWNER
        mine = await _membership(session, organization_id, principal.user_id)
        mine.role = OrgRole.ADMIN
        await session.flush()
        return await queries.organization(session, organization_id, principal.user_id)

    return await db.transaction(work)


# --- invitations ----------------------------------------------------------------------


async def invite(
    db: Database, principal: Principal, organization_id: int, body: InvitationCreate
) -> InvitationIssued:
    """Invite an address (admins and the owner); the token is in this answer only."""
    principal.require_writer()
    token = new_token()

    async def work(session: AsyncSession) -> InvitationIssued:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.ADMIN)
        member = await session.scalar(
            select(OrganizationMember.user_id)
            .join(User, User.id == OrganizationMember.user_id)
            .where(OrganizationMember.organization_id == organization_id, User.email == body.email)
        )
        if member is not None:
            raise Conflict(f"{body.email} is already a member", field="email")
        now = utcnow()
        await session.execute(
            update(OrganizationInvitation)
            .where(
                OrganizationInvitation.organization_id == organization_id,
                OrganizationInvitation.email == body.email,
                OrganizationInvitation.status == InvitationStatus.PENDING,
            )
            .values(status=InvitationStatus.REVOKED, responded_at=now)
        )
        row = OrganizationInvitation(
            organization_id=organization_id,
            email=body.email,
            role=OrgRole(body.role),
            token_hash=hash_token(token),
            invited_by=principal.user_id,
            status=InvitationStatus.PENDING,
            created_at=now,
            expires_at=now + INVITATION_TTL,
        )
        session.add(row)
        await session.flush()
        return InvitationIssued(invitation=queries.invitation_read(row), token=token)

    return await db.transaction(work)


async def list_invitations(
    db: Database,
    principal: Principal,
    organization_id: int,
    *,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[InvitationRead]:
    """The organization's invitations, newest first (admins and the owner)."""
    async with db.session() as session:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.ADMIN)
        rows, next_cursor = await queries.newest_of_organization(
            session,
            OrganizationInvitation,
            organization_id,
            codec=codec,
            cursor=cursor,
            limit=limit,
        )
    return Page([queries.invitation_read(row) for row in rows], next_cursor)


async def revoke_invitation(
    db: Database, principal: Principal, organization_id: int, invitation_id: int
) -> InvitationRead:
    """Revoke a pending invitation (admins and the owner); 409 once it was used."""
    principal.require_writer()

    async def work(session: AsyncSession) -> InvitationRead:
        await queries.require_role(session, organization_id, principal.user_id, OrgRole.ADMIN)
        row = await session.get(OrganizationInvitation, invitation_id)
        if row is None or row.organization_id != organization_id:
            raise NotFound(f"invitation {invitation_id} does not exist", field="invitation_id")
        await _use(session, row, InvitationStatus.REVOKED)
        return queries.invitation_read(row)

    return await db.transaction(work)


async def _use(
    session: AsyncSession, row: OrganizationInvitation, status: InvitationStatus
) -> None:
    """Mark a pending invitation used, once: the conditional update is the single use."""
    now = utcnow()
    done = await session.execute(
        update(OrganizationInvitation)
        .where(
            OrganizationInvitation.id == row.id,
            OrganizationInvitation.status == InvitationStatus.PENDING,
        )
        .values(status=status, responded_at=now)
    )
    if rowcount(done) != 1:
        raise Conflict(f"this invitation was already {row.status}", field="token")
    await session.refresh(row)


async def _by_token(
    session: AsyncSession, principal: Principal, token: str
) -> OrganizationInvitation:
    row = (
        await session.execute(
            select(OrganizationInvitation).where(
                OrganizationInvitation.token_hash == hash_token(token)
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("no invitation has this token", field="token")
    email = await session.scalar(select(User.email).where(User.id == principal.user_id))
    if email != row.email:
        raise PermissionDenied("this invitation is for another address")
    if row.status != InvitationStatus.PENDING:
        raise Conflict(f"this invitation was already {row.status}", field="token")
    if row.expires_at <= utcnow():
        raise Conflict("this invitation has expired; ask for a new one", field="token")
    return row


async def accept_invitation(db: Database, principal: Principal, token: str) -> OrganizationRead:
    """Join the organization with the invitation's role (a member already keeps theirs)."""
    principal.require_writer()

    async def work(session: AsyncSession) -> OrganizationRead:
        row = await _by_token(session, principal, token)
        await _use(session, row, InvitationStatus.ACCEPTED)
        values: dict[str, Any] = {
            "organization_id": row.organization_id,
            "user_id": principal.user_id,
            "role": row.role,
            "created_at": utcnow(),
        }
        await session.execute(portable.insert_or_ignore(session, OrganizationMember, values))
        return await queries.organization(session, row.organization_id, principal.user_id)

    return await db.transaction(work)


async def decline_invitation(db: Database, principal: Principal, token: str) -> InvitationRead:
    """Decline an invitation: its token cannot be used again."""

    async def work(session: AsyncSession) -> InvitationRead:
        row = await _by_token(session, principal, token)
        await _use(session, row, InvitationStatus.DECLINED)
        return queries.invitation_read(row)

    return await db.transaction(work)
