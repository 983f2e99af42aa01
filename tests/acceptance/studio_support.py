"""Helpers for the studio tests (chat, highlights, events, analytics): organizations."""

from __future__ import annotations

import itertools

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.models import Episode, Organization, Project, User

_orgs = itertools.count(1)


async def organization(db: Database, *, quota: int = 1_000_000) -> int:
    """A new organization with a daily token quota."""

    async def work(session: AsyncSession) -> int:
        n = next(_orgs)
        org = Organization(name=f"Org {n}", slug=f"org-{n}-{id(session)}", token_quota=quota)
        session.add(org)
        await session.flush()
        return org.id

    return await db.transaction(work)


async def join(db: Database, user_id: int, organization_id: int) -> None:
    """Make the user a member of the organization."""

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(User).where(User.id == user_id).values(organization_id=organization_id)
        )

    await db.transaction(work)


async def episode(db: Database, organization_id: int) -> int:
    """An episode of a new project of the organization (no post: analytics need none)."""

    async def work(session: AsyncSession) -> int:
        project = Project(organization_id=organization_id, name="Weekly")
        session.add(project)
        await session.flush()
        row = Episode(project_id=project.id, scheduled_for=utcnow())
        session.add(row)
        await session.flush()
        return row.id

    return await db.transaction(work)
