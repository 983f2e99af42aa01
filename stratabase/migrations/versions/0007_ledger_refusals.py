"""Refusals bound to their idempotency key (``ledger_refusals``).

A transfer refused under an idempotency key (insufficient funds, no such account, wrong
currency) stored nothing, so the same key could later succeed, and of two concurrent
duplicates one could answer 409 while the other moved the money. The refusal is now
recorded under its key in the transaction that refused it, under the same account locks,
and a retry with the key answers it again, as Stripe saves an error response.

PostgreSQL: the batch functions of 0002/0004 (with the settings of 0004 and 0006) learn the
table. The loop, ``sb_ledger_transfers_each``, answers a key found there with its code (or
a key conflict for another request) and records each refusal of a keyed item; the set path,
``sb_ledger_transfers``, leaves any batch that names a recorded key to the loop, checking in
a statement of its own once the accounts are locked. SQLite records refusals from Python
(``stratabase/ledger/service.py``), inside its IMMEDIATE transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stratabase.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIGNATURE = (
    "(bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], text[])"
)

_EACH = """
CREATE OR REPLACE FUNCTION sb_ledger_transfers_each(
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
SET enable_seqscan = off
SET stratabase.ledger_batch = 'off'
AS $$
DECLARE
    v_now timestamptz := now();
    v_id bigint;
    v_hash text;
    v_code text;
    v_created timestamptz;
    v_debit_balance bigint;
    v_credit_balance bigint;
    v_debit_user bigint;
    v_credit_user bigint;
    i integer;
BEGIN
    -- Every account of the batch, locked in id order before any is touched: no deadlock
    -- with another batch or with any other writer (they all lock accounts in id order).
    PERFORM 1 FROM ledger_accounts
     WHERE id = ANY (p_debits || p_credits) ORDER BY id FOR NO KEY UPDATE;

    FOR i IN 1 .. coalesce(array_length(p_debits, 1), 0) LOOP
        item := i - 1;
        status := NULL;
        transfer_id := NULL;
        created_at := NULL;
        debit_user_id := NULL;
        credit_user_id := NULL;

        IF p_keys[i] IS NOT NULL THEN
            SELECT t.id, t.request_hash, t.created_at INTO v_id, v_hash, v_created
              FROM ledger_transfers t WHERE t.idempotency_key = p_keys[i];
            IF FOUND THEN
                status := CASE WHEN v_hash IS NOT DISTINCT FROM p_hashes[i]
                               THEN 'replayed' ELSE 'SBIK0' END;
                transfer_id := v_id;
                created_at := v_created;
                RETURN NEXT;
                CONTINUE;
            END IF;
            -- A key bound to a refusal answers that refusal again (0007).
            SELECT r.request_hash, r.code INTO v_hash, v_code
              FROM ledger_refusals r WHERE r.idempotency_key = p_keys[i];
            IF FOUND THEN
                status := CASE WHEN v_hash IS NOT DISTINCT FROM p_hashes[i]
                               THEN v_code ELSE 'SBIK0' END;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        -- The debit is the conditional statement: no row means no funds (or no account).
        UPDATE ledger_accounts
           SET balance = balance - p_amounts[i], spent_total = spent_total + p_amounts[i],
               updated_at = v_now
         WHERE id = p_debits[i] AND currency = p_currencies[i]
           AND (kind = 'system' OR balance - pending_debits >= p_amounts[i])
        RETURNING balance, user_id INTO v_debit_balance, v_debit_user;
        IF NOT FOUND THEN
            status := sb_ledger_refusal(p_debits[i], p_currencies[i]);
            IF p_keys[i] IS NOT NULL THEN
                INSERT INTO ledger_refusals (idempotency_key, request_hash, code, created_at)
                VALUES (p_keys[i], p_hashes[i], status, v_now)
                ON CONFLICT (idempotency_key) DO NOTHING;
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;

        UPDATE ledger_accounts
           SET balance = balance + p_amounts[i], earned_total = earned_total + p_amounts[i],
               updated_at = v_now
         WHERE id = p_credits[i] AND currency = p_currencies[i]
        RETURNING balance, user_id INTO v_credit_balance, v_credit_user;
        IF NOT FOUND THEN
            -- Put the debit back (locks held: nobody saw it) and say why.
            UPDATE ledger_accounts
               SET balance = balance + p_amounts[i], spent_total = spent_total - p_amounts[i]
             WHERE id = p_debits[i];
            status := sb_ledger_refusal(p_credits[i], p_currencies[i]);
            IF p_keys[i] IS NOT NULL THEN
                INSERT INTO ledger_refusals (idempotency_key, request_hash, code, created_at)
                VALUES (p_keys[i], p_hashes[i], status, v_now)
                ON CONFLICT (idempotency_key) DO NOTHING;
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;

        v_id := NULL;
        INSERT INTO ledger_transfers AS t (
            debit_account_id, credit_account_id, amount, currency, status, reason,
            reference_type, reference_id, idempotency_key, request_hash, metadata, created_at
        ) VALUES (
            p_debits[i], p_credits[i], p_amounts[i], p_currencies[i], 'posted', p_reasons[i],
            p_reference_types[i], p_reference_ids[i], p_keys[i], p_hashes[i],
            coalesce(p_metadata[i], '{}')::jsonb, v_now
        )
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING t.id INTO v_id;
        IF v_id IS NULL THEN
            -- A concurrent twin committed this key meanwhile: undo both sides, answer as
            -- its retry would.
            UPDATE ledger_accounts
               SET balance = balance + p_amounts[i], spent_total = spent_total - p_amounts[i]
             WHERE id = p_debits[i];
            UPDATE ledger_accounts
               SET balance = balance - p_amounts[i], earned_total = earned_total - p_amounts[i]
             WHERE id = p_credits[i];
            SELECT t.id, t.request_hash, t.created_at INTO v_id, v_hash, v_created
              FROM ledger_transfers t WHERE t.idempotency_key = p_keys[i];
            status := CASE WHEN v_hash IS NOT DISTINCT FROM p_hashes[i]
                           THEN 'replayed' ELSE 'SBIK0' END;
            transfer_id := v_id;
            created_at := v_created;
            RETURN NEXT;
            CONTINUE;
        END IF;

        INSERT INTO ledger_entries (transfer_id, account_id, amount, balance_after, created_at)
        VALUES (v_id, p_debits[i], -p_amounts[i], v_debit_balance, v_now),
               (v_id, p_credits[i], p_amounts[i], v_credit_balance, v_now);

        status := 'ok';
        transfer_id := v_id;
        created_at := v_now;
        debit_user_id := v_debit_user;
        credit_user_id := v_credit_user;
        RETURN NEXT;
    END LOOP;
END;
$$
"""

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
SET stratabase.ledger_batch = 'on'
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

    -- A key bound to a refusal sends the batch to the loop, which answers it (0007). A
    -- statement of its own, so a snapshot taken once the accounts are locked: it sees a
    -- refusal a twin recorded while this call waited for them.
    IF coalesce(v_clear, false) AND EXISTS (SELECT 1 FROM unnest(p_keys) AS k
                                             WHERE k IS NOT NULL) THEN
        v_clear := NOT EXISTS (SELECT 1 FROM ledger_refusals r
                                WHERE r.idempotency_key = ANY (p_keys));
    END IF;

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


def _key_type() -> sa.types.TypeEngine[str]:
    return sa.String(length=128).with_variant(sa.String(length=128, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ledger_refusals",
        sa.Column("idempotency_key", _key_type(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column(
            "created_at",
            stratabase.db.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_ledger_refusals")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_EACH)
        op.execute(_BATCH)


def _previous(module: str, name: str) -> str:
    """A function body as an earlier revision wrote it (the state a downgrade restores)."""
    return str(getattr(importlib.import_module(f"stratabase.migrations.versions.{module}"), name))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        each = _previous("0002_ledger", "_TRANSFERS").replace(
            "FUNCTION sb_ledger_transfers(", "FUNCTION sb_ledger_transfers_each("
        )
        op.execute(each)
        op.execute(f"ALTER FUNCTION sb_ledger_transfers_each{_SIGNATURE} SET enable_seqscan = off")
        op.execute(
            f"ALTER FUNCTION sb_ledger_transfers_each{_SIGNATURE} SET stratabase.ledger_batch = 'off'"
        )
        op.execute(_previous("0004_ledger_batches", "_BATCH"))
        op.execute(
            f"ALTER FUNCTION sb_ledger_transfers{_SIGNATURE} SET stratabase.ledger_batch = 'on'"
        )
    op.drop_table("ledger_refusals")
