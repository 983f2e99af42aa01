"""Who may see an organization's studio data: the one place membership is decided.

A user belongs to an organization when ``organization_members`` has a row for them (any
role) or it is their home organization (``users.organization_id``, which the seed and
older accounts carry); an organization's admin is a member with the owner or admin role,
or a platform admin (``Role.ADMIN``). Every chat, highlight and analytics rule asks these
functions, so the rule lives in one place.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.enums import OrgRole
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.models import User
from stratabase.publishing.queries import role_of


async def organization_of(session: AsyncSession, user_id: int) -> int | None:
    """The organization a user belongs to (their home one), or None."""
    org: int | None = await session.scalar(select(User.organization_id).where(User.id == user_id))
    return org


async def can_access_organization(
    session: AsyncSession, principal: Principal, organization_id: int
) -> bool:
    """True when the caller is a member of the organization (or administers it)."""
    if principal.is_admin:
        return True
    if await role_of(session, organization_id, principal.user_id) is not None:
        return True
    return await organization_of(session, principal.user_id) == organization_id


async def is_org_admin(session: AsyncSession, principal: Principal, organization_id: int) -> bool:
    """True when the caller administers the organization: sees its members' sessions and
    its analytics: its owner or an admin member, or a platform admin."""
    if principal.is_admin:
        return True
    role = await role_of(session, organization_id, principal.user_id)
    return role in (OrgRole.OWNER, OrgRole.ADMIN)


async def require_org_admin(
    session: AsyncSession, principal: Principal, organization_id: int
) -> None:
    """PermissionDenied unless the caller administers the organization."""
    if not await is_org_admin(session, principal, organization_id):
        raise PermissionDenied(
            f"only an admin of organization {organization_id} may see this",
            field="organization_id",
        )


async def home_organization(session: AsyncSession, principal: Principal) -> int:
    """The caller's organization, or InvalidInput: quotas and projects need one."""
    org = await organization_of(session, principal.user_id)
    if org is None:
        raise InvalidInput("you belong to no organization", field="organization_id")
    return org
