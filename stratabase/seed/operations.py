"""Jobs in every state, user events, daily token usage, audit logs (theme-independent)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stratabase.seed.context import DAY, Context, TableData, dumps, role_of

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")
#: Weights of the statuses after the first of each (most jobs are done).
JOB_WEIGHTS = (0.1, 0.02, 0.78, 0.04, 0.03, 0.03)
TASKS = (
    "send_email", "generate_episode", "rebuild_search_index", "deliver_webhook",
    "compute_stats", "expire_holds",
)  # fmt: skip
#: Seeded jobs live on their own queue, so a real worker never claims them.
DEMO_QUEUE = "demo"
EVENT_TYPES = ("login", "post_viewed", "episode_opened", "search", "profile_updated")
CLIENTS = ("web", "ios", "android")
JOB_COLUMNS = (
    "id", "queue", "task", "payload", "status", "priority", "attempts", "max_attempts",
    "run_at", "lease_owner", "lease_expires_at", "heartbeat_at", "error", "result",
    "unique_key", "started_at", "finished_at", "created_at", "updated_at",
)  # fmt: skip


def _weighted(r: float) -> int:
    total = 0.0
    for index, weight in enumerate(JOB_WEIGHTS):
        total += weight
        if r < total:
            return index
    return len(JOB_WEIGHTS) - 1


def jobs(ctx: Context) -> TableData:
    """Queue jobs in every status, so the jobs pages and the worker have history."""
    rng = ctx.rng("jobs")
    rand = rng.random
    count = max(2 * len(JOB_STATUSES), ctx.users // 10)
    at, base = ctx.clock.at, ctx.start.offset("jobs")
    error = "Traceback (most recent call last):\n  ...\nTimeoutError: upstream did not answer"

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            jid = base + index + 1
            status = JOB_STATUSES[index if index < len(JOB_STATUSES) else _weighted(rand())]
            task = TASKS[int(rand() * len(TASKS))]
            created = -int(rand() * 30 * DAY) - 3600
            run_at, lease, lease_exp, beat, err, result, started, finished = (
                created, None, None, None, None, None, None, None
            )  # fmt: skip
            attempts, max_attempts = 0, 5
            if status == "queued":
                run_at = 60 * DAY + int(rand() * DAY)
            elif status == "running":
                attempts, started, beat = 1, created + 5, created + 20
                lease, lease_exp = f"worker-{index % 4}", 365 * DAY
            elif status == "succeeded":
                attempts, started, finished = 1, created + 5, created + 9
                result = dumps({"ok": True, "ms": 40 + int(rand() * 900)})
            elif status == "failed":
                attempts, err, run_at = 1 + int(rand() * 3), error, 60 * DAY
            elif status == "dead":
                attempts, err, started, finished = 5, error, created + 5, created + 600
            else:
                finished = created + 30
            updated = finished if finished is not None else started or created
            yield (
                jid, DEMO_QUEUE, task, dumps({"seed": ctx.seed, "n": index}), status,
                int(rand() * 3), attempts, max_attempts, at(run_at), lease,
                None if lease_exp is None else at(lease_exp), None if beat is None else at(beat),
                err, result, None, None if started is None else at(started),
                None if finished is None else at(finished), at(created), at(updated),
            )  # fmt: skip

    return TableData("jobs", JOB_COLUMNS, count, rows())


def user_events(ctx: Context) -> TableData:
    """Two activity events per user."""
    rng = ctx.rng("user_events")
    rand = rng.random
    count = 2 * ctx.users
    at, uid, base = ctx.clock.at, ctx.user_id, ctx.start.offset("user_events")
    payloads = [
        dumps({"client": client, "event": event}) for event in EVENT_TYPES for client in CLIENTS
    ]

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            choice = int(rand() * len(payloads))
            yield (
                base + index + 1, uid(int(rand() * ctx.users)), EVENT_TYPES[choice // 3],
                payloads[choice], at(-int(rand() * 60 * DAY)),
            )  # fmt: skip

    columns = ("id", "user_id", "event_type", "event_data", "created_at")
    return TableData("user_events", columns, count, rows())


def token_usage(ctx: Context) -> TableData:
    """Daily token usage per organization over the last 14 days."""
    rng = ctx.rng("token_usage")
    rand = rng.random
    days = 14
    count = ctx.organizations * days
    at, day, base = ctx.clock.at, ctx.clock.day, ctx.start.offset("token_usage_daily")

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            org, back = divmod(index, days)
            tokens_in = int(rand() * 50_000)
            tokens_out = int(rand() * 20_000)
            yield (
                base + index + 1, ctx.org_id(org), day(-days + back), tokens_in, tokens_out,
                (tokens_in + 3 * tokens_out) // 1000, at((-days + back + 1) * DAY - 1),
            )  # fmt: skip

    columns = ("id", "organization_id", "date", "tokens_in", "tokens_out", "cost_minor",
               "updated_at")  # fmt: skip
    return TableData("token_usage_daily", columns, count, rows())


def audit_logs(ctx: Context) -> TableData:
    """Role grants for staff, plus periodic account actions by the admin."""
    rng = ctx.rng("audit_logs")
    rand = rng.random
    at, uid, base = ctx.clock.at, ctx.user_id, ctx.start.offset("audit_logs")
    entries: list[tuple[Any, ...]] = []
    for index in range(ctx.users):
        role = role_of(index)
        if role != "user":
            entries.append(("user.role_granted", index, {"role": [None, role]}))
        elif rand() < 0.03:
            entries.append(("user.status_changed", index, {"status": ["active", "suspended"]}))
    actions = ("org.plan_changed", "settings.updated")
    for org in range(ctx.organizations):
        entries.append((actions[org % 2], org, {"plan": ["free", "pro"]}))

    def rows() -> Iterator[tuple[Any, ...]]:
        for index, (action, target, changes) in enumerate(entries):
            resource = "organization" if action.startswith(("org", "settings")) else "user"
            rid = ctx.org_id(target) if resource == "organization" else uid(target)
            yield (
                base + index + 1, uid(0), action, resource, str(rid), dumps(changes),
                f"10.0.{index % 256}.{(index // 256) % 256}", at(-int(rand() * 90 * DAY)),
            )  # fmt: skip

    columns = ("id", "actor_id", "action", "resource_type", "resource_id", "changes", "ip",
               "created_at")  # fmt: skip
    return TableData("audit_logs", columns, len(entries), rows())
