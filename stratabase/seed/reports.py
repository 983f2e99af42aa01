"""Content reports in every status and the moderators' reviews of the closed ones."""

from __future__ import annotations

from typing import Any

from stratabase.seed.content import ContentState
from stratabase.seed.context import DAY, Context, TableData, dumps, moderator_indexes

TARGETS = ("post", "comment", "user")
REASONS = ("spam", "harassment", "hate", "misinformation", "nsfw", "copyright", "other")
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "reviewing", "resolved", "dismissed")
DECISIONS = ("approve", "remove", "warn", "suspend")
REPORT_COLUMNS = (
    "id", "reporter_id", "target_type", "target_id", "reason", "severity", "status",
    "details", "evidence_urls", "created_at", "updated_at",
)  # fmt: skip


def reports(ctx: Context, state: ContentState) -> list[TableData]:
    """Content reports on posts, comments and users, and moderators' reviews of them."""
    rng = ctx.rng("reports", themed=True)
    rand = rng.random
    at, uid = ctx.clock.at, ctx.user_id
    moderators = moderator_indexes(ctx.users)
    count = max(len(STATUSES) * 2, state.posts // 100)
    rbase, vbase = ctx.start.offset("content_reports"), ctx.start.offset("moderation_reviews")
    bases = {
        "post": (ctx.start.offset("posts"), state.posts),
        "comment": (ctx.start.offset("comments"), ctx.size.comments),
        "user": (ctx.start.offset("users"), ctx.users),
    }
    report_rows: list[tuple[Any, ...]] = []
    review_rows: list[tuple[Any, ...]] = []
    for index in range(count):
        rid = rbase + index + 1
        target = TARGETS[index % len(TARGETS)]
        base, n = bases[target]
        if n == 0:
            target, (base, n) = "post", bases["post"]
        status = STATUSES[index % len(STATUSES)]
        reason = REASONS[int(rand() * len(REASONS))]
        created = -int(rand() * 90 * DAY)
        updated = created + (DAY if status in ("resolved", "dismissed") else 0)
        evidence = [f"https://evidence.example.com/{rid}.png"] if rand() < 0.3 else []
        report_rows.append((
            rid, uid(int(rand() * ctx.users)), target, base + int(rand() * n) + 1, reason,
            SEVERITIES[int(rand() * len(SEVERITIES))], status,
            f"Reported as {reason} by a reader.", dumps(evidence), at(created), at(updated),
        ))  # fmt: skip
        if status in ("resolved", "dismissed"):
            decision = "dismiss" if status == "dismissed" else DECISIONS[int(rand() * 4)]
            reviewer = moderators[int(rand() * len(moderators))]
            review_rows.append((
                vbase + len(review_rows) + 1, rid, uid(reviewer), decision,
                None if decision in ("dismiss", "approve") else f"{decision} applied",
                "Checked against the community guidelines.", at(updated),
            ))  # fmt: skip
    review_columns = ("id", "report_id", "reviewer_id", "decision", "action_taken", "notes",
                      "created_at")  # fmt: skip
    return [
        TableData("content_reports", REPORT_COLUMNS, len(report_rows), report_rows),
        TableData("moderation_reviews", review_columns, len(review_rows), review_rows),
    ]
