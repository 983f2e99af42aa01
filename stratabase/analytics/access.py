"""Who may see an organization's studio data: the one place membership is decided.

Until organization memberships with roles exist (issue #19 part 1 adds them), a user
belongs to the organization in ``users.organization_id``, and an organization's admin is a
platform admin (``Role.ADMIN``). Every chat, highlight and analytics rule asks these two
functions, so pointing them at the membership table changes the rules in one place.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.models import User


async def organization_of(session: AsyncSession, user_id: int) -> int | None:
    """The organization a user belongs to (their home one), or None."""
    org: int | None = await session.scalar(select(User.organization_id).where(User.id == user_id))
    return org


async def can_access_organization(
    session: AsyncSession, principal: Principal, organization_id: int
) -> bool:
    """True when the caller is a member of the organization (or administers it)."""
    if await is_org_admin(session, principal, organization_id):
        return True
    return await organization_of(session, principal.user_id) == organization_id


async def is_org_admin(session: AsyncSession, principal: Principal, organization_id: int) -> bool:
    """True when the caller administers the organization: sees its members' sessions and
    its analytics. For now: platform admins (see the module's docstring)."""
    del session, organization_id  # used once memberships carry roles
    return principal.is_admin


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
