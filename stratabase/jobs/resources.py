"""What the built-in tasks use in a real worker (tests pass their own).

Episode generation charges the owner's wallet through the token ledger: a hold before the
generator runs, posted for the tokens used (or voided on failure). With a cache, the posts
a task writes invalidate what they change (the owner's profile and feeds, search) after
commit; embedded, pass the API's own cache so the invalidation reaches it.
"""

from __future__ import annotations

from typing import Any

from stratabase.cache import Cache
from stratabase.db.session import Database
from stratabase.jobs.tasks.episodes import CACHE, RESERVER, LedgerReserver
from stratabase.ledger.service import LedgerService


def default_resources(
    db: Database, *, cache: Cache | None = None, **overrides: Any
) -> dict[str, Any]:
    """What built-in tasks find in ``ctx.resources``: the ledger reserver, the cache."""
    resources: dict[str, Any] = {RESERVER: LedgerReserver(LedgerService(db))}
    if cache is not None:
        resources[CACHE] = cache
    return {**resources, **overrides}
