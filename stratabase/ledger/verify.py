"""Reconciliation: recompute every ledger invariant from the rows and report what differs.

The database enforces what a single row can (CHECKs, unique keys); these are the
invariants that span rows: double entry, balances equal to their entries, the
``balance_after`` chain, holds matching ``pending_debits``, each idempotency key bound to
one outcome. A clean ledger yields no
violation; ``stratabase ledger verify`` exits non-zero with the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.session import Database


@dataclass(frozen=True)
class Report:
    """What ``verify`` found: counts of what it checked, and every violation."""

    violations: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no invariant is violated."""
        return not self.violations


_TOTALS = """
SELECT currency, SUM(balance) AS total FROM ledger_accounts
GROUP BY currency HAVING SUM(balance) <> 0 ORDER BY currency
"""

_ACCOUNTS = """
SELECT a.id, a.balance, a.earned_total, a.spent_total,
       COALESCE(SUM(e.amount), 0) AS net,
       COALESCE(SUM(CASE WHEN e.amount > 0 THEN e.amount ELSE 0 END), 0) AS earned,
       COALESCE(SUM(CASE WHEN e.amount < 0 THEN -e.amount ELSE 0 END), 0) AS spent
FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
GROUP BY a.id, a.balance, a.earned_total, a.spent_total
HAVING a.balance <> COALESCE(SUM(e.amount), 0)
    OR a.earned_total <> COALESCE(SUM(CASE WHEN e.amount > 0 THEN e.amount ELSE 0 END), 0)
    OR a.spent_total <> COALESCE(SUM(CASE WHEN e.amount < 0 THEN -e.amount ELSE 0 END), 0)
ORDER BY a.id LIMIT :limit
"""

_NEGATIVE = """
SELECT id, balance, pending_debits FROM ledger_accounts
WHERE pending_debits < 0 OR (kind = 'user' AND (balance < 0 OR balance - pending_debits < 0))
ORDER BY id LIMIT :limit
"""

_PENDING = """
SELECT a.id, a.pending_debits, COALESCE(SUM(t.amount), 0) AS held
FROM ledger_accounts a
LEFT JOIN ledger_transfers t ON t.debit_account_id = a.id AND t.status = 'pending'
GROUP BY a.id, a.pending_debits
HAVING a.pending_debits <> COALESCE(SUM(t.amount), 0)
ORDER BY a.id LIMIT :limit
"""

_TRANSFERS = """
SELECT t.id, t.status, COUNT(e.id) AS n,
       SUM(CASE WHEN e.account_id = t.debit_account_id AND e.amount = -t.amount
                THEN 1 ELSE 0 END) AS debit_ok,
       SUM(CASE WHEN e.account_id = t.credit_account_id AND e.amount = t.amount
                THEN 1 ELSE 0 END) AS credit_ok
FROM ledger_transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id
GROUP BY t.id, t.status, t.expires_at
HAVING (t.status = 'posted' AND t.expires_at IS NULL AND NOT (
            COUNT(e.id) = 2
            AND SUM(CASE WHEN e.account_id = t.debit_account_id AND e.amount = -t.amount
                         THEN 1 ELSE 0 END) = 1
            AND SUM(CASE WHEN e.account_id = t.credit_account_id AND e.amount = t.amount
                         THEN 1 ELSE 0 END) = 1))
    OR ((t.status <> 'posted' OR t.expires_at IS NOT NULL) AND COUNT(e.id) <> 0)
ORDER BY t.id LIMIT :limit
"""

_CHAIN = """
SELECT account_id, id, balance_after, running FROM (
    SELECT e.account_id, e.id, e.balance_after,
           SUM(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running
    FROM ledger_entries e
) chain WHERE balance_after <> running ORDER BY id LIMIT :limit
"""

_RESOLUTIONS = """
SELECT r.id, r.pending_id, r.reverses_id FROM ledger_transfers r
LEFT JOIN ledger_transfers h ON h.id = r.pending_id
LEFT JOIN ledger_transfers o ON o.id = r.reverses_id
WHERE (r.pending_id IS NOT NULL AND (h.status <> 'posted' OR h.expires_at IS NULL
        OR r.amount > h.amount OR r.debit_account_id <> h.debit_account_id
        OR r.credit_account_id <> h.credit_account_id))
   OR (r.reverses_id IS NOT NULL AND (r.amount <> o.amount
        OR r.debit_account_id <> o.credit_account_id
        OR r.credit_account_id <> o.debit_account_id))
ORDER BY r.id LIMIT :limit
"""

#: A key is bound to one outcome: a transfer or a refusal, never both (migration 0007).
_KEYS = """
SELECT r.idempotency_key AS key, t.id FROM ledger_refusals r
JOIN ledger_transfers t ON t.idempotency_key = r.idempotency_key
ORDER BY t.id LIMIT :limit
"""

_COUNTS = """
SELECT (SELECT COUNT(*) FROM ledger_accounts) AS accounts,
       (SELECT COUNT(*) FROM ledger_transfers) AS transfers,
       (SELECT COUNT(*) FROM ledger_entries) AS entries
"""


async def check(session: AsyncSession, *, limit: int = 20) -> Report:
    """Every violation found (up to ``limit`` per invariant), in a stable order."""
    found: list[str] = []
    params = {"limit": limit}
    for row in await session.execute(text(_ACCOUNTS), params):
        if row.balance != row.net:
            found.append(
                f"account {row.id}: balance is {row.balance} but its entries sum to {int(row.net)}"
            )
        else:
            found.append(
                f"account {row.id}: earned/spent totals {row.earned_total}/{row.spent_total}"
                f" but its entries give {int(row.earned)}/{int(row.spent)}"
            )
    for row in await session.execute(text(_NEGATIVE), params):
        found.append(
            f"account {row.id}: negative funds (balance {row.balance}, held {row.pending_debits})"
        )
    for row in await session.execute(text(_PENDING), params):
        found.append(
            f"account {row.id}: pending_debits is {row.pending_debits}"
            f" but its open holds total {int(row.held)}"
        )
    for row in await session.execute(text(_TRANSFERS), params):
        found.append(
            f"transfer {row.id} ({row.status}): {row.n} entries do not match a double entry"
        )
    for row in await session.execute(text(_CHAIN), params):
        found.append(
            f"entry {row.id} of account {row.account_id}: balance_after is"
            f" {row.balance_after}, the running sum is {int(row.running)}"
        )
    for row in await session.execute(text(_RESOLUTIONS), params):
        what = (
            f"post of hold {row.pending_id}" if row.pending_id else f"reversal of {row.reverses_id}"
        )
        found.append(f"transfer {row.id}: does not match the {what}")
    for row in await session.execute(text(_KEYS), params):
        found.append(f"idempotency key {row.key!r}: both refused and used by transfer {row.id}")
    for row in await session.execute(text(_TOTALS)):
        found.append(f"currency {row.currency}: balances sum to {int(row.total)}, not 0")
    counts = dict((await session.execute(text(_COUNTS))).one()._mapping)
    return Report(violations=found, counts={k: int(v) for k, v in counts.items()})


async def verify(db: Database, *, limit: int = 20) -> Report:
    """Run every check on one consistent snapshot (a read-only transaction)."""
    async with db.begin(write=False) as session:
        await portable.repeatable_read(session)
        return await check(session, limit=limit)
