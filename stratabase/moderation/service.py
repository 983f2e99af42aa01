"""The moderation workflow: reports, the review queue, claims, decisions, appeals, sanctions.

**Reports.** A signed-in user reports a post, comment or user they can see; one open report
per reporter and target (409 for a second while the first is open or under review). When a
target reaches ``settings.moderation_auto_hide_reports`` open reports it is taken down at
once, pending review, and a *hold* remembers what to restore if the review dismisses it.

**Claims.** A moderator claims a report for ``settings.moderation_claim_seconds`` (a lease
in ``claimed_by``/``claimed_until``): one conditional ``UPDATE … WHERE`` the report is open
or its lease has run out, so of two moderators racing for one report exactly one wins, on
either backend (PostgreSQL re-checks the condition after the winner commits; SQLite has
one writer). ``claim_next`` takes the head of the queue with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so racing moderators get different reports.

**Decisions** (only by the claim's holder, while it lasts) are applied in the transaction
that writes the review row: the content's change (``targets``), the sanction, the report
(and the other open reports on the same target) closed, an audit entry, change events on
``moderation`` and the subject's ``me:<id>``; caches are invalidated after commit.

**Appeals.** The user a decision concerns may appeal it once (even while suspended); a
moderator other than the one who decided settles it. Overturning restores the content and
lifts the sanction. **Suspensions** end by themselves: ``lift_expired`` (the periodic job
``moderation.lift_suspensions``) lifts those past their end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.audit import record
from stratabase.auth.principal import Principal
from stratabase.auth.service import apply_user_status
from stratabase.cache import Cache
from stratabase.changes.outbox import append
from stratabase.db import portable
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import ReportStatus, ReportTarget, Severity, UserStatus
from stratabase.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from stratabase.models import (
    ContentReport,
    ModerationAppeal,
    ModerationHold,
    ModerationReview,
    User,
    UserSanction,
)
from stratabase.models.trust import AppealStatus, SanctionKind
from stratabase.moderation import targets
from stratabase.moderation.values import (
    AppealCreate,
    AppealDecision,
    AppealRead,
    DecisionCreate,
    DecisionRead,
    ModerationAction,
    QueueItem,
    ReportCreate,
    ReporterHistory,
    ReportRead,
)
from stratabase.pagination import CursorCodec, Page, after

__all__ = ["TOPIC", "ModerationService", "lift_expired"]

#: The change-feed topic moderators subscribe to.
TOPIC = "moderation"
QUEUE_CURSOR = "moderation-queue"
APPEALS_CURSOR = "moderation-appeals"
DECISIONS_CURSOR = "moderation-decisions"
_LIVE = (ReportStatus.OPEN, ReportStatus.REVIEWING)
_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}
#: Queue order: severity (critical first), then age (oldest first), then id.
_SEVERITY_RANK = case(
    *((ContentReport.severity == sev, rank) for sev, rank in _RANK.items()), else_=4
)


def _report(row: ContentReport) -> ReportRead:
    return ReportRead.model_validate(row, from_attributes=True)


def _appeal(row: ModerationAppeal) -> AppealRead:
    return AppealRead.model_validate(row, from_attributes=True)


def _decision(review: ModerationReview, report: ContentReport) -> DecisionRead:
    state = review.target_state or {}
    until = state.get("suspended_until")
    return DecisionRead(
        id=review.id,
        report_id=review.report_id,
        reviewer_id=review.reviewer_id,
        action=ModerationAction(review.action_taken or ModerationAction.DISMISS),
        decision=review.decision,
        notes=review.notes,
        subject_id=review.subject_id,
        target_type=report.target_type,
        target_id=report.target_id,
        suspended_until=datetime.fromisoformat(until) if until else None,
        created_at=review.created_at,
    )


def _advisory_key(*parts: object) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _serialize(session: AsyncSession, *parts: object) -> None:
    """On PostgreSQL, one transaction at a time for this key (SQLite has one writer)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(*parts)}
        )


async def _sanction(
    session: AsyncSession,
    cache: Cache,
    user_id: int,
    kind: SanctionKind,
    review_id: int | None,
    ends_at: datetime | None,
) -> int:
    sanction = UserSanction(user_id=user_id, review_id=review_id, kind=kind, ends_at=ends_at)
    session.add(sanction)
    await session.flush()
    await apply_user_status(session, cache, user_id, UserStatus.SUSPENDED)
    return sanction.id


async def _lift(
    session: AsyncSession, cache: Cache, sanction: UserSanction, actor_id: int | None, why: str
) -> None:
    sanction.lifted_at = utcnow()
    await session.flush()
    live = await session.scalar(
        select(func.count())
        .select_from(UserSanction)
        .where(UserSanction.user_id == sanction.user_id, UserSanction.lifted_at.is_(None))
    )
    status = await session.scalar(select(User.status).where(User.id == sanction.user_id))
    if not live and status == UserStatus.SUSPENDED:
        await apply_user_status(session, cache, sanction.user_id, UserStatus.ACTIVE)
    record(
        session,
        actor_id,
        why,
        "user",
        sanction.user_id,
        {"status": [UserStatus.SUSPENDED.value, UserStatus.ACTIVE.value], "sanction": sanction.id},
    )


async def lift_expired(db: Database, cache: Cache, *, now: datetime | None = None) -> int:
    """Lift every suspension whose end has passed (the periodic job); returns how many."""
    moment = now or utcnow()

    async def work(session: AsyncSession) -> int:
        due = (
            await session.scalars(
                portable.lock(
                    select(UserSanction)
                    .where(UserSanction.lifted_at.is_(None), UserSanction.ends_at <= moment)
                    .order_by(UserSanction.id)
                    .limit(500),
                    skip_locked=True,
                )
            )
        ).all()
        for sanction in due:
            await _lift(session, cache, sanction, None, "moderation.suspension_ended")
        return len(due)

    return await db.transaction(work)


@dataclass
class ModerationService:
    """The moderation use cases over one database and cache (``Stratabase.moderation``)."""

    db: Database
    cache: Cache
    cursors: CursorCodec
    auto_hide_reports: int = 3
    claim_seconds: float = 900.0

    # --- reports --------------------------------------------------------------------------

    async def report(self, principal: Principal, data: ReportCreate) -> ReportRead:
        """File a report; 409 when the caller already has one open on this target."""
        principal.require_writer()

        async def work(session: AsyncSession) -> ReportRead:
            subject = await targets.visible_target(
                session, principal, data.target_type, data.target_id
            )
            if subject == principal.user_id:
                raise InvalidInput(
                    "you cannot report yourself or your own content", field="target_id"
                )
            await _serialize(session, "report", principal.user_id, data.target_type, data.target_id)
            mine = await session.scalar(
                select(ContentReport.id).where(
                    ContentReport.reporter_id == principal.user_id,
                    ContentReport.target_type == data.target_type,
                    ContentReport.target_id == data.target_id,
                    ContentReport.status.in_(_LIVE),
                )
            )
            if mine is not None:
                raise AlreadyExists(
                    f"you already reported this {data.target_type.value} (report {mine})",
                    field="target_id",
                )
            row = ContentReport(
                reporter_id=principal.user_id,
                target_type=data.target_type,
                target_id=data.target_id,
                reason=data.reason,
                severity=data.severity,
                status=ReportStatus.OPEN,
                details=data.details,
                evidence_urls=list(data.evidence_urls),
            )
            session.add(row)
            await session.flush()
            await append(
                session,
                TOPIC,
                "report.created",
                {
                    "report_id": row.id,
                    "target_type": row.target_type.value,
                    "target_id": row.target_id,
                    "severity": row.severity.value,
                },
            )
            await self._maybe_hold(session, data.target_type, data.target_id)
            return _report(row)

        return await self.db.transaction(work)

    async def _maybe_hold(self, session: AsyncSession, target_type: str, target_id: int) -> None:
        threshold = self.auto_hide_reports
        if threshold <= 0 or target_type == ReportTarget.USER:
            return
        await _serialize(session, "hold", target_type, target_id)
        live = await session.scalar(
            select(func.count(func.distinct(ContentReport.reporter_id))).where(
                ContentReport.target_type == target_type,
                ContentReport.target_id == target_id,
                ContentReport.status.in_(_LIVE),
            )
        )
        if (live or 0) < threshold:
            return
        held = await session.scalar(
            select(ModerationHold.id).where(
                ModerationHold.target_type == target_type, ModerationHold.target_id == target_id
            )
        )
        if held is not None:
            return
        previous = await targets.take_down(session, self.cache, target_type, target_id)
        if previous is None:
            return
        session.add(ModerationHold(target_type=target_type, target_id=target_id, previous=previous))
        record(
            session,
            None,
            "moderation.auto_hide",
            str(target_type),
            target_id,
            {"open_reports": [None, live], "threshold": threshold},
        )
        await append(
            session,
            TOPIC,
            "target.held",
            {"target_type": str(target_type), "target_id": target_id, "reports": live},
        )

    async def get_report(self, principal: Principal, report_id: int) -> ReportRead:
        """One report, for its reporter or a moderator (anyone else: 404)."""
        async with self.db.session() as session:
            row = await session.get(ContentReport, report_id)
        if row is None or not (principal.is_moderator or row.reporter_id == principal.user_id):
            raise NotFound(f"report {report_id} does not exist", field="report_id")
        return _report(row)

    # --- the queue and claims -------------------------------------------------------------

    async def queue(
        self, principal: Principal, *, cursor: str | None, limit: int
    ) -> Page[QueueItem]:
        """Open and in-review reports, most severe first, then oldest first; with each
        target's content, its open report count and the reporter's history."""
        _moderator(principal)
        rank = _SEVERITY_RANK
        query = select(ContentReport, rank.label("rank")).where(ContentReport.status.in_(_LIVE))
        if cursor is not None:
            values = self.cursors.decode(QUEUE_CURSOR, cursor, 3)
            query = query.where(
                after([rank, ContentReport.created_at, ContentReport.id], values, descending=False)
            )
        query = query.order_by(rank, ContentReport.created_at, ContentReport.id).limit(limit + 1)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
            page = rows[:limit]
            reports = [row[0] for row in page]
            described = await targets.describe_many(
                session, [(r.target_type, r.target_id) for r in reports]
            )
            histories = await _histories(session, {r.reporter_id for r in reports})
            counts = await _live_counts(session, {(r.target_type, r.target_id) for r in reports})
            items = [
                QueueItem(
                    report=_report(r),
                    target=described.get((r.target_type, r.target_id)),
                    reporter_history=histories.get(r.reporter_id, ReporterHistory()),
                    open_reports_on_target=counts.get((str(r.target_type), r.target_id), 0),
                )
                for r in reports
            ]
        next_cursor = None
        if len(rows) > limit:
            last, last_rank = page[-1]
            next_cursor = self.cursors.encode(QUEUE_CURSOR, [last_rank, last.created_at, last.id])
        return Page(items, next_cursor)

    def _claimable(self, now: datetime, principal: Principal | None) -> Any:
        """Open, or under review with a lease that ran out (or held by ``principal``)."""
        free = [ContentReport.claimed_until.is_(None), ContentReport.claimed_until < now]
        if principal is not None:
            free.append(ContentReport.claimed_by == principal.user_id)
        return or_(
            ContentReport.status == ReportStatus.OPEN,
            and_(ContentReport.status == ReportStatus.REVIEWING, or_(*free)),
        )

    async def claim(self, principal: Principal, report_id: int) -> ReportRead:
        """Claim one report for the lease; 409 when another moderator holds it or it was
        decided, 404 when it does not exist."""
        _moderator(principal)

        async def work(session: AsyncSession) -> ReportRead:
            now = utcnow()
            claimed = await session.execute(
                update(ContentReport)
                .where(ContentReport.id == report_id, self._claimable(now, principal))
                .values(
                    status=ReportStatus.REVIEWING,
                    claimed_by=principal.user_id,
                    claimed_until=now + timedelta(seconds=self.claim_seconds),
                    updated_at=now,
                )
            )
            row = await session.get(ContentReport, report_id, populate_existing=True)
            if row is None:
                raise NotFound(f"report {report_id} does not exist", field="report_id")
            if not claimed.rowcount:  # type: ignore[attr-defined]
                if row.status in _LIVE:
                    raise Conflict(
                        f"report {report_id} is being reviewed by moderator {row.claimed_by}"
                        f" until {row.claimed_until:%Y-%m-%dT%H:%M:%SZ}"
                    )
                raise Conflict(f"report {report_id} was already decided ({row.status.value})")
            return _report(row)

        return await self.db.transaction(work)

    async def claim_next(self, principal: Principal) -> ReportRead | None:
        """Claim the head of the queue, not counting reports the caller already holds (None:
        nothing to review). Racing moderators get different reports (``SKIP LOCKED`` on
        PostgreSQL; one writer on SQLite)."""
        _moderator(principal)

        async def work(session: AsyncSession) -> ReportRead | None:
            now = utcnow()
            head = await session.scalar(
                portable.lock(
                    select(ContentReport)
                    .where(ContentReport.status.in_(_LIVE), self._claimable(now, None))
                    .order_by(_SEVERITY_RANK, ContentReport.created_at, ContentReport.id)
                    .limit(1),
                    skip_locked=True,
                )
            )
            if head is None:
                return None
            head.status = ReportStatus.REVIEWING
            head.claimed_by = principal.user_id
            head.claimed_until = now + timedelta(seconds=self.claim_seconds)
            await session.flush()
            return _report(head)

        return await self.db.transaction(work)

    # --- decisions ------------------------------------------------------------------------

    async def decide(
        self, principal: Principal, report_id: int, data: DecisionCreate
    ) -> DecisionRead:
        """Apply a decision on a report the caller holds the claim of, atomically."""
        _moderator(principal)
        action = data.action
        if (action == ModerationAction.SUSPEND) != (data.suspend_hours is not None):
            raise InvalidInput(
                "suspend_hours is required for a suspension, and only for one",
                field="suspend_hours",
            )

        async def work(session: AsyncSession) -> DecisionRead:
            now = utcnow()
            report = await session.get(ContentReport, report_id, with_for_update=True)
            if report is None:
                raise NotFound(f"report {report_id} does not exist", field="report_id")
            lease = report.claimed_until
            held = report.claimed_by == principal.user_id and lease is not None and lease >= now
            if report.status != ReportStatus.REVIEWING or not held:
                raise Conflict(f"claim report {report_id} before deciding it (or claim it again)")
            kind, target_id = report.target_type, report.target_id
            subject = await targets.subject_of(session, kind, target_id)
            if subject == principal.user_id:
                raise PermissionDenied("a report about you is decided by another moderator")
            if action.takes_down and kind == ReportTarget.USER:
                raise InvalidInput("a user cannot be hidden: warn, suspend or ban", field="action")
            sanctions = (ModerationAction.SUSPEND, ModerationAction.BAN)
            if action in sanctions and subject is None:
                raise Conflict("the reported user no longer exists")
            state: dict[str, Any] = {"author_id": subject}
            await _serialize(session, "hold", kind, target_id)
            hold = await session.scalar(
                select(ModerationHold).where(
                    ModerationHold.target_type == kind, ModerationHold.target_id == target_id
                )
            )
            if action.takes_down:
                state["previous"] = (
                    hold.previous
                    if hold is not None
                    else await targets.take_down(session, self.cache, kind, target_id)
                )
            elif hold is not None and action in (ModerationAction.DISMISS, ModerationAction.WARN):
                await targets.restore(session, self.cache, kind, target_id, hold.previous)
            elif hold is not None:  # suspended or banned: the held content stays down
                state["previous"] = hold.previous
            if hold is not None:
                await session.delete(hold)
            review = ModerationReview(
                report_id=report.id,
                reviewer_id=principal.user_id,
                decision=action.decision,
                action_taken=action.value,
                notes=data.notes,
                subject_id=subject,
            )
            session.add(review)
            await session.flush()
            if action in sanctions and subject is not None:
                hours = data.suspend_hours
                ends = now + timedelta(hours=hours) if hours is not None else None
                kind_of = SanctionKind.SUSPEND if ends else SanctionKind.BAN
                state["sanction_id"] = await _sanction(
                    session, self.cache, subject, kind_of, review.id, ends
                )
                state["suspended_until"] = ends.isoformat() if ends else None
            review.target_state = state
            closed = (
                ReportStatus.DISMISSED
                if action == ModerationAction.DISMISS
                else ReportStatus.RESOLVED
            )
            others = await session.execute(
                update(ContentReport)
                .where(
                    ContentReport.target_type == kind,
                    ContentReport.target_id == target_id,
                    or_(
                        ContentReport.id == report.id,
                        ContentReport.status == ReportStatus.OPEN,
                    ),
                )
                .values(status=closed, claimed_by=None, claimed_until=None, updated_at=now)
                .returning(ContentReport.id)
            )
            closed_ids = sorted(others.scalars())
            await session.refresh(report)
            record(
                session,
                principal.user_id,
                f"moderation.{action.value}",
                "content_report",
                report.id,
                {
                    "status": [ReportStatus.REVIEWING.value, closed.value],
                    "target": [None, f"{kind.value}:{target_id}"],
                    "reports_closed": [None, closed_ids],
                    "review": [None, review.id],
                },
            )
            payload = {
                "report_id": report.id,
                "review_id": review.id,
                "action": action.value,
                "target_type": kind.value,
                "target_id": target_id,
            }
            await append(session, TOPIC, "report.decided", payload)
            if subject is not None and action != ModerationAction.DISMISS:
                await append(session, f"me:{subject}", "moderation.decision", payload)
            return _decision(review, report)

        return await self.db.transaction(work)

    async def decisions_about_me(
        self, principal: Principal, *, cursor: str | None, limit: int
    ) -> Page[DecisionRead]:
        """The decisions concerning the caller (what they may appeal), newest first."""
        query = (
            select(ModerationReview, ContentReport)
            .join(ContentReport, ContentReport.id == ModerationReview.report_id)
            .where(ModerationReview.subject_id == principal.user_id)
        )
        if cursor is not None:
            (last,) = self.cursors.decode(DECISIONS_CURSOR, cursor, 1)
            query = query.where(after([ModerationReview.id], [last], descending=True))
        async with self.db.session() as session:
            rows = (
                await session.execute(query.order_by(ModerationReview.id.desc()).limit(limit + 1))
            ).all()
            items = [_decision(review, report) for review, report in rows[:limit]]
        more = len(rows) > limit
        return Page(items, self.cursors.encode(DECISIONS_CURSOR, [items[-1].id]) if more else None)

    # --- appeals --------------------------------------------------------------------------

    async def appeal(self, principal: Principal, review_id: int, data: AppealCreate) -> AppealRead:
        """Appeal a decision about the caller (once per decision; allowed while suspended)."""

        async def work(session: AsyncSession) -> AppealRead:
            review = await session.get(ModerationReview, review_id)
            if review is None or review.subject_id != principal.user_id:
                raise NotFound(f"decision {review_id} does not exist", field="review_id")
            if review.action_taken in (None, ModerationAction.DISMISS.value):
                raise InvalidInput(
                    "a dismissed report took nothing from you to appeal", field="review_id"
                )
            existing = await session.scalar(
                select(ModerationAppeal.id).where(ModerationAppeal.review_id == review_id)
            )
            if existing is not None:
                raise AlreadyExists(
                    f"this decision was already appealed (appeal {existing})", field="review_id"
                )
            row = ModerationAppeal(
                review_id=review_id,
                appellant_id=principal.user_id,
                statement=data.statement,
                status=AppealStatus.OPEN,
            )
            session.add(row)
            await session.flush()
            await append(
                session, TOPIC, "appeal.created", {"appeal_id": row.id, "review_id": review_id}
            )
            return _appeal(row)

        return await self.db.transaction(work)

    async def appeals(
        self, principal: Principal, *, cursor: str | None, limit: int
    ) -> Page[AppealRead]:
        """Open appeals, oldest first (moderators)."""
        _moderator(principal)
        query = select(ModerationAppeal).where(ModerationAppeal.status == AppealStatus.OPEN)
        if cursor is not None:
            values = self.cursors.decode(APPEALS_CURSOR, cursor, 2)
            query = query.where(
                after([ModerationAppeal.created_at, ModerationAppeal.id], values, descending=False)
            )
        query = query.order_by(ModerationAppeal.created_at, ModerationAppeal.id).limit(limit + 1)
        async with self.db.session() as session:
            rows = (await session.scalars(query)).all()
            items = [_appeal(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = self.cursors.encode(APPEALS_CURSOR, [last.created_at, last.id])
        return Page(items, next_cursor)

    async def decide_appeal(
        self, principal: Principal, appeal_id: int, data: AppealDecision
    ) -> AppealRead:
        """Uphold or overturn an appeal; never by the moderator who made the decision."""
        _moderator(principal)

        async def work(session: AsyncSession) -> AppealRead:
            row = await session.get(ModerationAppeal, appeal_id, with_for_update=True)
            if row is None:
                raise NotFound(f"appeal {appeal_id} does not exist", field="appeal_id")
            review = await session.get(ModerationReview, row.review_id)
            assert review is not None  # the foreign key cascades
            if principal.user_id in (review.reviewer_id, row.appellant_id):
                raise PermissionDenied(
                    "an appeal is decided by a moderator other than the one who decided"
                    " (and not by the appellant)"
                )
            decided = await session.execute(
                update(ModerationAppeal)
                .where(
                    ModerationAppeal.id == appeal_id, ModerationAppeal.status == AppealStatus.OPEN
                )
                .values(
                    status=data.outcome,
                    reviewer_id=principal.user_id,
                    notes=data.notes,
                    decided_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            if not decided.rowcount:  # type: ignore[attr-defined]
                raise Conflict(f"appeal {appeal_id} was already decided")
            if data.outcome == AppealStatus.OVERTURNED:
                await self._undo(session, principal, review)
            await session.refresh(row)
            record(
                session,
                principal.user_id,
                f"moderation.appeal_{data.outcome.value}",
                "moderation_appeal",
                row.id,
                {
                    "status": [AppealStatus.OPEN.value, data.outcome.value],
                    "review": [None, review.id],
                },
            )
            payload = {"appeal_id": row.id, "review_id": review.id, "outcome": data.outcome.value}
            await append(session, TOPIC, "appeal.decided", payload)
            await append(session, f"me:{row.appellant_id}", "moderation.appeal", payload)
            return _appeal(row)

        return await self.db.transaction(work)

    async def _undo(
        self, session: AsyncSession, principal: Principal, review: ModerationReview
    ) -> None:
        """Restore what ``review`` took: the content, the account."""
        report = await session.get(ContentReport, review.report_id)
        state = review.target_state or {}
        if report is not None and state.get("previous"):
            await targets.restore(
                session, self.cache, report.target_type, report.target_id, state["previous"]
            )
        sanction_id = state.get("sanction_id")
        if sanction_id is not None:
            sanction = await session.get(UserSanction, sanction_id)
            if sanction is not None and sanction.lifted_at is None:
                await _lift(session, self.cache, sanction, principal.user_id, "moderation.lifted")

    async def lift_expired(self, *, now: datetime | None = None) -> int:
        """:func:`lift_expired` on this service's database and cache."""
        return await lift_expired(self.db, self.cache, now=now)


def _moderator(principal: Principal) -> None:
    if not principal.is_moderator:
        raise PermissionDenied("moderators only")


async def _histories(session: AsyncSession, reporters: set[int]) -> dict[int, ReporterHistory]:
    if not reporters:
        return {}
    rows = await session.execute(
        select(ContentReport.reporter_id, ContentReport.status, func.count())
        .where(ContentReport.reporter_id.in_(reporters))
        .group_by(ContentReport.reporter_id, ContentReport.status)
    )
    found: dict[int, dict[str, int]] = {}
    for reporter, status, count in rows:
        counts = found.setdefault(reporter, {"total": 0, "open": 0, "resolved": 0, "dismissed": 0})
        counts["total"] += count
        key = "open" if status in _LIVE else ReportStatus(status).value
        counts[key] += count
    return {reporter: ReporterHistory(**counts) for reporter, counts in found.items()}


async def _live_counts(
    session: AsyncSession, wanted: set[tuple[Any, int]]
) -> dict[tuple[str, int], int]:
    if not wanted:
        return {}
    ids = {target_id for _, target_id in wanted}
    rows = await session.execute(
        select(ContentReport.target_type, ContentReport.target_id, func.count())
        .where(ContentReport.target_id.in_(ids), ContentReport.status.in_(_LIVE))
        .group_by(ContentReport.target_type, ContentReport.target_id)
    )
    return {(str(ReportTarget(kind).value), tid): n for kind, tid, n in rows}
