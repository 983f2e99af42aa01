"""Wallet events from PostgreSQL's batched transfers: the outbox rows in the same call.

The batch function ``sb_ledger_transfers`` (0004-0007) commits transfers in one autocommitted
statement, outside the ORM session whose ``before_commit`` hook writes the change feed's
outbox (``stratabase/changes/outbox.py``): on PostgreSQL a ``me`` subscriber missed every
wallet movement that went through it. ``sb_ledger_transfers_announced`` wraps the batch
function: it runs it, then, for each transfer that went through (not a refusal, not a
replay), appends ``wallet.<kind>`` to ``me:<user>`` for each user whose wallet moved, with
the payload the ORM path writes (``changes/emit.py``: ``{"kind", "transfer_ids"}``), and
wakes the relays with ``pg_notify``.

Commit order as the outbox guarantees it: the rows are inserted under the same
transaction-scoped advisory lock, taken after every account lock of the batch, as the last
statements of the call; the call is its own transaction (autocommit), so the commit
follows at once and the lock is released only once the rows are visible. A batch with no
event (all refused or replayed, system accounts only) takes no lock. A call that fails or
is retried rolls its rows back with its transfers.

SQLite: nothing to do (its transfers go through the ORM session).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``outbox.ADVISORY_LOCK_KEY`` and ``outbox.CHANNEL`` as this revision wrote them.
LOCK_KEY = 0x5342_6368_616E_6765
CHANNEL = "stratabase_changes"

#: The batch function's arguments (0002-0007), then the events' kinds.
_ARGUMENTS = (
    ("p_debits", "bigint[]"),
    ("p_credits", "bigint[]"),
    ("p_amounts", "bigint[]"),
    ("p_currencies", "text[]"),
    ("p_reasons", "text[]"),
    ("p_reference_types", "text[]"),
    ("p_reference_ids", "text[]"),
    ("p_keys", "text[]"),
    ("p_hashes", "text[]"),
    ("p_metadata", "text[]"),
    ("p_kinds", "text[]"),
)
_SIGNATURE = "(" + ", ".join(kind for _, kind in _ARGUMENTS) + ")"
_DECLARED = ", ".join(f"{name} {kind}" for name, kind in _ARGUMENTS)
_RESULT = (
    "item integer, status text, transfer_id bigint, created_at timestamptz,"
    " debit_user_id bigint, credit_user_id bigint"
)

_ANNOUNCED = f"""
CREATE OR REPLACE FUNCTION sb_ledger_transfers_announced({_DECLARED})
RETURNS TABLE ({_RESULT})
LANGUAGE plpgsql
AS $$
DECLARE
    r record;
    v_items integer[] := '{{}}';
    v_transfers bigint[] := '{{}}';
    v_users bigint[] := '{{}}';
BEGIN
    FOR r IN SELECT * FROM sb_ledger_transfers(
        p_debits, p_credits, p_amounts, p_currencies, p_reasons, p_reference_types,
        p_reference_ids, p_keys, p_hashes, p_metadata)
    LOOP
        item := r.item;
        status := r.status;
        transfer_id := r.transfer_id;
        created_at := r.created_at;
        debit_user_id := r.debit_user_id;
        credit_user_id := r.credit_user_id;
        RETURN NEXT;
        -- Went through (not a refusal, not a replay) and moved a user's wallet.
        IF r.status = 'ok' AND num_nonnulls(r.debit_user_id, r.credit_user_id) > 0 THEN
            v_items := v_items || r.item || r.item;
            v_transfers := v_transfers || r.transfer_id || r.transfer_id;
            v_users := v_users || r.debit_user_id || r.credit_user_id;
        END IF;
    END LOOP;

    IF cardinality(v_items) > 0 THEN
        -- Last, after every account lock: the outbox's commit-order lock (outbox.py).
        PERFORM pg_advisory_xact_lock({LOCK_KEY});
        -- One event per user whose wallet moved (system accounts have none), in user
        -- order within a transfer, as emit.wallet_changed writes them.
        INSERT INTO change_events (topic, type, payload, created_at)
        SELECT 'me:' || e.user_id, 'wallet.' || e.kind,
               jsonb_build_object('kind', e.kind,
                                  'transfer_ids', jsonb_build_array(e.transfer_id)),
               clock_timestamp()
          FROM (SELECT DISTINCT u.item, u.transfer_id, u.user_id,
                       coalesce(p_kinds[u.item + 1], 'transfer') AS kind
                  FROM unnest(v_items, v_transfers, v_users) AS u(item, transfer_id, user_id)
                 WHERE u.user_id IS NOT NULL) e
         ORDER BY e.item, e.user_id;
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ANNOUNCED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS sb_ledger_transfers_announced{_SIGNATURE}")
