"""The deterministic seed generator: the same theme, size and seed give the same rows.

Rows come out as plain tuples with explicit ids, table by table in foreign-key order, so
the loader can stream them into either backend and get identical data. Tables are produced
lazily and must be consumed in order: later tables read facts (post kinds, comment times,
like counts) recorded while earlier ones were emitted.
"""

from __future__ import annotations

from collections.abc import Iterator

from stratabase.seed import content, operations, people, publishing, reports, threads, wallets
from stratabase.seed.context import Clock, Context, Start, TableData
from stratabase.seed.sizes import Size
from stratabase.seed.theme import Theme

#: Tables the seed fills that do not depend on the theme (kept by ``switch-theme``).
PEOPLE_TABLES = (
    "organizations", "users", "organization_members", "follows", "blocks", "mutes",
    "ledger_accounts", "ledger_transfers", "ledger_entries", "payments", "payment_events", "jobs",
    "user_events", "token_usage_daily", "audit_logs",
)  # fmt: skip
#: Tables whose rows come from the theme (replaced by ``switch-theme``), in load order.
CONTENT_TABLES = (
    "categories", "tags", "posts", "post_tags", "media", "comments", "likes", "post_stats",
    "highlights", "content_reports", "moderation_reviews", "projects", "episodes",
    "planning_notes", "agent_memories", "chat_sessions", "chat_messages",
)  # fmt: skip
SEEDED_TABLES = PEOPLE_TABLES + CONTENT_TABLES


class Generator:
    """Produces the dataset for one (theme, size, seed); ``clock`` picks the time encoding."""

    def __init__(
        self, theme: Theme, size: Size, seed: int, clock: Clock, start: Start | None = None
    ) -> None:
        self.ctx = Context(theme, size, seed, clock, start or Start())
        self.wallets: wallets.WalletPlan | None = None

    def tables(self, *, content_only: bool = False) -> Iterator[TableData]:
        """Every seeded table in load order (only the themed ones with ``content_only``)."""
        if not content_only:
            yield from self._people()
        yield from self._content()

    def _people(self) -> Iterator[TableData]:
        ctx = self.ctx
        yield people.organizations(ctx)
        yield people.users(ctx)
        yield people.memberships(ctx)
        yield people.follows(ctx)
        yield people.blocks_and_mutes(ctx, "blocks")
        yield people.blocks_and_mutes(ctx, "mutes")
        self.wallets = wallets.plan_wallets(ctx)
        yield from wallets.tables(ctx, self.wallets)
        yield operations.jobs(ctx)
        yield operations.user_events(ctx)
        yield operations.token_usage(ctx)
        yield operations.audit_logs(ctx)

    def _content(self) -> Iterator[TableData]:
        ctx = self.ctx
        state = content.ContentState(ctx.size.posts, content.plan_episodes(ctx))
        yield content.categories(ctx, state)
        yield content.tags(ctx, state)
        yield content.posts(ctx, state)
        _require(len(state.kind) == state.posts, "posts")
        yield content.post_tags(ctx, state)
        yield content.media(ctx, state)
        likes = threads.plan_likes(ctx, state, ctx.size.comments)
        comment_state = threads.ThreadState()
        yield threads.comments(ctx, state, likes, comment_state)
        _require(len(comment_state.created) == ctx.size.comments, "comments")
        yield threads.likes_table(ctx, state, likes, comment_state)
        yield threads.post_stats(ctx, state, likes, comment_state)
        yield threads.highlights(ctx, state)
        yield from reports.reports(ctx, state)
        yield from publishing.projects(ctx, state)
        yield from publishing.chats(ctx, state)


def _require(consumed: bool, table: str) -> None:
    if not consumed:
        raise RuntimeError(f"consume every row of {table} before asking for the next table")
