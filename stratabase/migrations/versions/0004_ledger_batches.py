"""Ledger batches as sets: one statement moves a whole batch; fewer indexes on transfers.

``sb_ledger_transfers`` (0002) runs a loop of statements per transfer. Measured on 2 cores,
a batch of eight spent ~2.8 ms in the database, most of it starting statements and
checking keys row by row. This revision keeps the loop, renamed ``sb_ledger_transfers_each``,
for batches where some item may be refused, and puts in front of it a set-based path for the
common batch where none can be:

1. lock every account of the batch in id order (as before) and, in the same statement,
   decide whether the batch is *clear*: every account exists in the item's currency, every
   user account can pay all of its debits in the batch at once (credits are not counted, so
   the check is conservative: each item's own check, in order, would pass too), and every
   idempotency key is new and used once;
2. if clear: one statement updates each account once by its net movement, inserts the
   transfers and both entries of each (``balance_after`` is the running sum per account, in
   item order; entry ids are allocated in that order, so the chain ``ledger verify`` checks
   holds) and returns the rows the loop would have returned;
3. otherwise the loop, unchanged.

A concurrent twin committing one of the keys between the check and the insert makes the
statement fail with a unique violation and the whole call roll back; the caller sends the
batch again and the loop then answers that item as a replay (``stratabase/ledger/postgres.py``).

Idempotency keys become ``COLLATE "C"`` on PostgreSQL: opaque strings, compared byte by byte.

Indexes: every posted transfer paid for three indexes of NULLs (``linked_id``, the reference)
and two per-account indexes nothing reads (history reads ``ledger_entries``; the only
per-account lookup on transfers is the open holds of an account). They become partial: a
plain transfer now inserts into the primary key and the idempotency key only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIGNATURE = (
    "(bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], text[])"
)

_BATCH = """
CREATE OR REPLACE FUNCTION sb_ledger_transfers(
    p_debits bigint[],
    p_credits bigint[],
    p_amounts bigint[],
    p_currencies text[],
    p_reasons text[],
    p_reference_types text[],
    p_reference_ids text[],
    p_keys text[],
    p_hashes text[],
    p_metadata text[]
)
RETURNS TABLE (
    item integer,
    status text,
    transfer_id bigint,
    created_at timestamptz,
    debit_user_id bigint,
    credit_user_id bigint
)
LANGUAGE plpgsql
-- Every lookup here is by key. Custom plans would be made afresh on every call (the arrays
-- change size), so plans are generic and kept for the connection's life; a plan made while
-- a table was nearly empty must not scan it whole once it holds millions of rows.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
DECLARE
    v_now timestamptz := now();
    v_n integer := coalesce(array_length(p_debits, 1), 0);
    v_clear boolean;
    v_ids bigint[];
    v_entry_ids bigint[];
BEGIN
    -- Every account of the batch locked in id order (no deadlock with any other writer),
    -- and whether any item could be refused.
    WITH locked AS (
        SELECT a.id, a.kind, a.currency, a.balance - a.pending_debits AS available
          FROM ledger_accounts a
         WHERE a.id = ANY (p_debits || p_credits)
         ORDER BY a.id
           FOR NO KEY UPDATE
    ), wanted AS (
        SELECT u.account, sum(u.debit) AS debits, array_agg(u.currency) AS currencies
          FROM (SELECT d AS account, a AS debit, c AS currency
                  FROM unnest(p_debits, p_amounts, p_currencies) AS x(d, a, c)
                UNION ALL
                SELECT d, 0, c FROM unnest(p_credits, p_currencies) AS x(d, c)) u
         GROUP BY u.account
    )
    SELECT bool_and(l.id IS NOT NULL AND l.currency = ALL (w.currencies)
                    AND (l.kind = 'system' OR l.available >= w.debits))
           AND (SELECT count(k) = count(DISTINCT k) FROM unnest(p_keys) AS k)
           AND NOT EXISTS (SELECT 1 FROM ledger_transfers t
                            WHERE t.idempotency_key = ANY (p_keys))
      INTO v_clear
      FROM wanted w LEFT JOIN locked l ON l.id = w.account;

    IF NOT coalesce(v_clear, false) THEN
        RETURN QUERY SELECT * FROM sb_ledger_transfers_each(
            p_debits, p_credits, p_amounts, p_currencies, p_reasons, p_reference_types,
            p_reference_ids, p_keys, p_hashes, p_metadata);
        RETURN;
    END IF;

    SELECT array(SELECT nextval('ledger_transfers_id_seq') FROM generate_series(1, v_n)),
           array(SELECT nextval('ledger_entries_id_seq') AS n
                   FROM generate_series(1, 2 * v_n) ORDER BY n)
      INTO v_ids, v_entry_ids;

    RETURN QUERY
    WITH sides AS (
        SELECT i, 1 AS side, p_debits[i] AS account, -p_amounts[i] AS amount
          FROM generate_series(1, v_n) AS i
        UNION ALL
        SELECT i, 2, p_credits[i], p_amounts[i] FROM generate_series(1, v_n) AS i
    ), moved AS (
        UPDATE ledger_accounts a
           SET balance = a.balance + s.net,
               spent_total = a.spent_total + s.spent,
               earned_total = a.earned_total + s.earned,
               updated_at = v_now
          FROM (SELECT account,
                       sum(amount)::bigint AS net,
                       coalesce(sum(-amount) FILTER (WHERE side = 1), 0)::bigint AS spent,
                       coalesce(sum(amount) FILTER (WHERE side = 2), 0)::bigint AS earned
                  FROM sides GROUP BY account) s
         -- The ANY lets the planner reach the accounts by key; the join alone would scan.
         WHERE a.id = ANY (p_debits || p_credits) AND a.id = s.account
        RETURNING a.id, a.balance - s.net AS before, a.user_id
    ), transfers AS (
        INSERT INTO ledger_transfers (
            id, debit_account_id, credit_account_id, amount, currency, status, reason,
            reference_type, reference_id, idempotency_key, request_hash, metadata, created_at
        )
        SELECT v_ids[i], p_debits[i], p_credits[i], p_amounts[i], p_currencies[i], 'posted',
               p_reasons[i], p_reference_types[i], p_reference_ids[i], p_keys[i],
               p_hashes[i], coalesce(p_metadata[i], '{}')::jsonb, v_now
          FROM generate_series(1, v_n) AS i
    ), entries AS (
        INSERT INTO ledger_entries (id, transfer_id, account_id, amount, balance_after,
                                    created_at)
        SELECT v_entry_ids[2 * s.i + s.side - 2], v_ids[s.i], s.account, s.amount,
               m.before + sum(s.amount) OVER (PARTITION BY s.account ORDER BY s.i, s.side),
               v_now
          FROM sides s JOIN moved m ON m.id = s.account
    )
    SELECT i - 1, 'ok'::text, v_ids[i], v_now, d.user_id, c.user_id
      FROM generate_series(1, v_n) AS i
      JOIN moved d ON d.id = p_debits[i]
      JOIN moved c ON c.id = p_credits[i]
     ORDER BY i;
END;
$$
"""

#: The indexes of 0001 this revision drops, and the partial ones it makes instead.
_OLD_INDEXES = (
    ("ix_ledger_transfers_debit_account_id", ["debit_account_id", "id"]),
    ("ix_ledger_transfers_credit_account_id", ["credit_account_id", "id"]),
    ("ix_ledger_transfers_reference", ["reference_type", "reference_id"]),
    ("ix_ledger_transfers_linked_id", ["linked_id"]),
)
_NEW_INDEXES = (
    ("ix_ledger_transfers_pending_debit", ["debit_account_id", "id"], "status = 'pending'"),
    (
        "ix_ledger_transfers_reference",
        ["reference_type", "reference_id"],
        "reference_type IS NOT NULL",
    ),
    ("ix_ledger_transfers_linked_id", ["linked_id"], "linked_id IS NOT NULL"),
)


#: Idempotency keys compared byte by byte: they are opaque, and every transfer inserts one
#: into a unique index (about 10% of the function's CPU with the database's collation).
_KEY_TYPE = "ALTER TABLE ledger_transfers ALTER COLUMN idempotency_key TYPE varchar(128){collation}"


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    for name, _columns in _OLD_INDEXES:
        op.drop_index(name, table_name="ledger_transfers")
    for name, columns, where in _NEW_INDEXES:
        op.create_index(
            name,
            "ledger_transfers",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    if _is_postgres():
        op.execute(_KEY_TYPE.format(collation=' COLLATE "C"'))
        op.execute(
            f"ALTER FUNCTION sb_ledger_transfers{_SIGNATURE} RENAME TO sb_ledger_transfers_each"
        )
        op.execute(_BATCH)
        op.execute(f"ALTER FUNCTION sb_ledger_transfers_each{_SIGNATURE} SET enable_seqscan = off")


def downgrade() -> None:
    if _is_postgres():
        op.execute(_KEY_TYPE.format(collation=""))
        op.execute(f"DROP FUNCTION sb_ledger_transfers{_SIGNATURE}")
        op.execute(f"ALTER FUNCTION sb_ledger_transfers_each{_SIGNATURE} RESET enable_seqscan")
        op.execute(
            f"ALTER FUNCTION sb_ledger_transfers_each{_SIGNATURE} RENAME TO sb_ledger_transfers"
        )
    for name, _columns, _where in _NEW_INDEXES:
        op.drop_index(name, table_name="ledger_transfers")
    for name, columns in _OLD_INDEXES:
        op.create_index(name, "ledger_transfers", columns)
