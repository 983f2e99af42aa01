"""Moderation over HTTP: reports, the review queue, claims, decisions and appeals."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Response
from pydantic import BaseModel

from stratabase.api.deps import (
    AdminUserDep,
    CacheDep,
    CurrentUserDep,
    DatabaseDep,
    ModerationDep,
    ModeratorUserDep,
    ReportRateLimited,
)
from stratabase.api.routes._params import DEFAULT, Cursor, Limit, ObjectId
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import PageOut
from stratabase.auth import service as auth_service
from stratabase.enums import Role
from stratabase.moderation.values import (
    AppealCreate,
    AppealDecision,
    AppealRead,
    DecisionCreate,
    DecisionRead,
    QueueItem,
    ReportCreate,
    ReportRead,
)
from stratabase.pagination import Page
from stratabase.schemas.accounts import UserRead
from stratabase.schemas.common import InputModel

router = api_router("/v1/moderation", tag="moderation")

T = TypeVar("T", bound=BaseModel)


def _page(page: Page[T], model: type[T]) -> PageOut[T]:
    return PageOut[model](  # type: ignore[valid-type]
        items=page.items, next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.post(
    "/reports", response_model=ReportRead, status_code=201, dependencies=[ReportRateLimited]
)
async def file_report(
    principal: CurrentUserDep, moderation: ModerationDep, body: ReportCreate
) -> ReportRead:
    """Report a post, comment or user you can see; 409 while your earlier report on the
    same target is open. Enough open reports on one post or comment hide it pending review."""
    return await moderation.report(principal, body)


@router.get("/reports/{report_id}", response_model=ReportRead)
async def get_report(
    principal: CurrentUserDep, moderation: ModerationDep, report_id: ObjectId
) -> ReportRead:
    """One report, for its reporter and moderators."""
    return await moderation.get_report(principal, report_id)


@router.get("/queue", response_model=PageOut[QueueItem])
async def review_queue(
    moderator: ModeratorUserDep,
    moderation: ModerationDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[QueueItem]:
    """Reports to review, most severe first, then oldest: with the target's content, the
    open reports on it and the reporter's history."""
    page = await moderation.queue(moderator, cursor=cursor, limit=limit)
    return _page(page, QueueItem)


@router.post("/queue/claim", response_model=ReportRead, responses={204: {"description": "empty"}})
async def claim_next(
    moderator: ModeratorUserDep, moderation: ModerationDep
) -> ReportRead | Response:
    """Claim the head of the queue (204 when there is nothing to review)."""
    claimed = await moderation.claim_next(moderator)
    return claimed if claimed is not None else Response(status_code=204)


@router.post("/reports/{report_id}/claim", response_model=ReportRead)
async def claim(
    moderator: ModeratorUserDep, moderation: ModerationDep, report_id: ObjectId
) -> ReportRead:
    """Claim a report for review; 409 when another moderator holds it or it was decided."""
    return await moderation.claim(moderator, report_id)


@router.post("/reports/{report_id}/decision", response_model=DecisionRead, status_code=201)
async def decide(
    moderator: ModeratorUserDep,
    moderation: ModerationDep,
    report_id: ObjectId,
    body: DecisionCreate,
) -> DecisionRead:
    """Decide a report you hold the claim of: dismiss, hide, remove, warn, suspend (for
    ``suspend_hours``) or ban, applied at once with the review."""
    return await moderation.decide(moderator, report_id, body)


@router.get("/decisions/mine", response_model=PageOut[DecisionRead])
async def my_decisions(
    principal: CurrentUserDep,
    moderation: ModerationDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[DecisionRead]:
    """Decisions about you or your content, newest first (what you may appeal)."""
    page = await moderation.decisions_about_me(principal, cursor=cursor, limit=limit)
    return _page(page, DecisionRead)


@router.post("/decisions/{review_id}/appeal", response_model=AppealRead, status_code=201)
async def appeal(
    principal: CurrentUserDep, moderation: ModerationDep, review_id: ObjectId, body: AppealCreate
) -> AppealRead:
    """Appeal a decision about you, once (allowed while suspended)."""
    return await moderation.appeal(principal, review_id, body)


@router.get("/appeals", response_model=PageOut[AppealRead])
async def open_appeals(
    moderator: ModeratorUserDep,
    moderation: ModerationDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT,
) -> PageOut[AppealRead]:
    """Open appeals, oldest first."""
    page = await moderation.appeals(moderator, cursor=cursor, limit=limit)
    return _page(page, AppealRead)


@router.post("/appeals/{appeal_id}/decision", response_model=AppealRead)
async def decide_appeal(
    moderator: ModeratorUserDep,
    moderation: ModerationDep,
    appeal_id: ObjectId,
    body: AppealDecision,
) -> AppealRead:
    """Uphold or overturn an appeal (never the moderator who decided); overturning restores
    the content and lifts the sanction."""
    return await moderation.decide_appeal(moderator, appeal_id, body)


class UserRoleChange(InputModel):
    """The role to give a user."""

    role: Role


@router.put("/users/{user_id}/role", response_model=UserRead)
async def set_role(
    admin: AdminUserDep, db: DatabaseDep, cache: CacheDep, user_id: ObjectId, body: UserRoleChange
) -> UserRead:
    """Admins grant or take back the moderator (or admin) role; effective on the user's
    next request, and audited."""
    account = await auth_service.set_user_role(db, cache, admin, user_id, body.role)
    return UserRead.model_validate(account, from_attributes=True)
