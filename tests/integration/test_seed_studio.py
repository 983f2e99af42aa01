"""The seed makes its organizations reachable through the studio: each user is a member of
their home organization, its first user the owner of it and of its project."""

from __future__ import annotations

from sqlalchemy import func, select

from stratabase.auth.principal import Principal
from stratabase.db.session import Database
from stratabase.enums import OrgRole, Role, UserStatus
from stratabase.models import OrganizationMember, User
from stratabase.pagination import CursorCodec
from stratabase.publishing import projects, service
from stratabase.seed import orchestrator
from stratabase.seed.sizes import SIZES


async def test_seeded_organizations_have_members_and_owners(db: Database) -> None:
    await orchestrator.seed(db, size=SIZES["tiny"], seed=3)
    async with db.session() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        members = await session.scalar(select(func.count()).select_from(OrganizationMember))
        homes = (
            await session.execute(
                select(func.count())
                .select_from(User)
                .join(
                    OrganizationMember,
                    (OrganizationMember.user_id == User.id)
                    & (OrganizationMember.organization_id == User.organization_id),
                )
            )
        ).scalar_one()
    assert users == members == homes
    first = Principal(1, Role.ADMIN, UserStatus.ACTIVE)
    codec = CursorCodec("test")
    mine = await service.list_organizations(db, first, codec=codec, cursor=None, limit=10)
    assert [(o.id, o.role) for o in mine.items] == [(1, OrgRole.OWNER)]
    owned = await projects.list_projects(db, first, 1, codec=codec, cursor=None, limit=10)
    assert [p.owner_id for p in owned.items] == [1]
