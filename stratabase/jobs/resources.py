"""What the built-in tasks use in a real worker (tests pass their own).

Episode generation charges the owner's wallet through the token ledger: a hold before the
generator runs, posted for the tokens used (or voided on failure).
"""

from __future__ import annotations

from typing import Any

from stratabase.db.session import Database
from stratabase.jobs.tasks.episodes import RESERVER, LedgerReserver
from stratabase.ledger.service import LedgerService


def default_resources(db: Database, **overrides: Any) -> dict[str, Any]:
    return {RESERVER: LedgerReserver(LedgerService(db)), **overrides}
