"""Projects with cadence configs, their episodes (posts of kind episode), planning notes,
agent memories and chat sessions — all drawn from the theme's project ideas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stratabase.seed.content import ContentState
from stratabase.seed.context import DAY, Context, TableData, dumps

NOTE_BODIES = (
    "Shorter intros, please: readers skip to the list.",
    "Cover the regional angle more often.",
    "Add one chart per episode.",
    "Link the primary sources at the end.",
)
NOTE_STATUSES = ("open", "applied", "dismissed")
PROJECT_STATUSES = ("active", "active", "active", "paused", "archived")
#: Projects were created this many days before the epoch.
CREATED_DAYS = 420


def projects(ctx: Context, state: ContentState) -> list[TableData]:
    """projects, episodes, planning_notes, agent_memories: one project per organization."""
    rng = ctx.rng("projects", themed=True)
    rand = rng.random
    at, uid = ctx.clock.at, ctx.user_id
    ideas = ctx.theme.projects
    count = state.episodes.projects
    per = state.episodes.per_project
    pbase = ctx.start.offset("projects")
    ebase, nbase = ctx.start.offset("episodes"), ctx.start.offset("planning_notes")
    mbase, post_base = ctx.start.offset("agent_memories"), ctx.start.offset("posts")
    first = state.first_episode()
    rows: dict[str, list[tuple[Any, ...]]] = {
        "projects": [], "episodes": [], "planning_notes": [], "agent_memories": []
    }  # fmt: skip
    for p in range(count):
        idea = ideas[p % len(ideas)]
        pid = pbase + p + 1
        created = at(-CREATED_DAYS * DAY + p * 60)
        cadence = {
            "days": list(idea.cadence.days),
            "time": idea.cadence.time,
            "timezone": idea.cadence.timezone,
        }
        memories = {"audience": "general readers", "tone": "explanatory", "episodes": per}
        name = idea.name if p < len(ideas) else f"{idea.name} #{p // len(ideas) + 1}"
        rows["projects"].append((
            pid, ctx.org_id(p), uid(p), name, idea.description, dumps(cadence), dumps(memories),
            PROJECT_STATUSES[p % len(PROJECT_STATUSES)], created, created,
        ))  # fmt: skip
        for j in range(per):
            post = first + p * per + j
            slot = -(per - j) * 7 * DAY + 9 * 3600
            errors = [] if rand() < 0.8 else ["provider timeout, retried"]
            rows["episodes"].append((
                ebase + len(rows["episodes"]) + 1, pid, post_base + post + 1, at(slot), j + 1,
                1 + len(errors), dumps(errors), at(slot - 3600),
            ))  # fmt: skip
        for k in range(2):
            note = at(-int(rand() * 30 * DAY))
            rows["planning_notes"].append((
                nbase + len(rows["planning_notes"]) + 1, pid, uid(p),
                NOTE_BODIES[(p + k) % len(NOTE_BODIES)], NOTE_STATUSES[(p + k) % 3], note, note,
            ))  # fmt: skip
        for kind, key, content in (
            ("style", "voice", {"voice": "plain", "avoid": ["jargon"]}),
            ("fact", "recurring_topics", {"topics": ctx.theme.topics[:3]}),
            ("episode", "last_titles", {"titles": idea.episode_titles[:3]}),
        ):
            rows["agent_memories"].append((
                mbase + len(rows["agent_memories"]) + 1, pid, kind, key, dumps(content),
                created, created,
            ))  # fmt: skip
    columns = {
        "projects": ("id", "organization_id", "owner_id", "name", "description",
                     "cadence_config", "memories", "status", "created_at", "updated_at"),
        "episodes": ("id", "project_id", "post_id", "scheduled_for", "number",
                     "generation_attempts", "generation_errors", "created_at"),
        "planning_notes": ("id", "project_id", "author_id", "body", "status", "created_at",
                           "updated_at"),
        "agent_memories": ("id", "project_id", "kind", "key", "content", "created_at",
                           "updated_at"),
    }  # fmt: skip
    return [TableData(name, columns[name], len(data), data) for name, data in rows.items()]


def chats(ctx: Context, state: ContentState) -> list[TableData]:
    """Chat sessions (some in projects) and their messages, from the theme's chat prompts."""
    rng = ctx.rng("chats", themed=True)
    rand = rng.random
    at, uid = ctx.clock.at, ctx.user_id
    prompts = ctx.theme.chat_prompts
    sessions = max(2, ctx.users // 10)
    sbase, mbase = ctx.start.offset("chat_sessions"), ctx.start.offset("chat_messages")
    pbase = ctx.start.offset("projects")

    def session_rows() -> Iterator[tuple[Any, ...]]:
        for index in range(sessions):
            project = int(rand() * state.episodes.projects) if rand() < 0.5 else None
            when = at(-int(rand() * 60 * DAY))
            yield (
                sbase + index + 1, uid(int(rand() * ctx.users)),
                None if project is None else pbase + project + 1,
                prompts[index % len(prompts)][:200], when, when,
            )  # fmt: skip

    def message_rows() -> Iterator[tuple[Any, ...]]:
        mid = mbase
        for index in range(sessions):
            prompt = prompts[index % len(prompts)]
            when = -int(rand() * 60 * DAY)
            turns = [
                ("system", "You are a careful editorial assistant.", 12, 0),
                ("user", prompt, len(prompt) // 4, 0),
                ("assistant", f"Here is a first draft for: {prompt}", 40, 180),
                ("tool", dumps({"search": prompt[:40], "results": 3}), 0, 0)
                if index % 3 == 0
                else ("user", "Make it shorter, please.", 6, 0),
            ]
            for turn, (role, content, tokens_in, tokens_out) in enumerate(turns):
                mid += 1
                yield (mid, sbase + index + 1, role, content, tokens_in, tokens_out,
                       at(when + turn * 20))  # fmt: skip

    return [
        TableData("chat_sessions", ("id", "user_id", "project_id", "title", "created_at",
                                    "updated_at"), sessions, session_rows()),
        TableData("chat_messages", ("id", "session_id", "role", "content", "tokens_in",
                                    "tokens_out", "created_at"), sessions * 4, message_rows()),
    ]  # fmt: skip
