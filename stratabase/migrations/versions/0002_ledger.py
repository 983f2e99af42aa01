"""Ledger functions: PostgreSQL transfers in one statement (and so one round trip).

``sb_ledger_transfers`` takes a batch of transfers as arrays (one transfer is a batch of
one), locks every account involved in id order, then for each transfer: answers a known
idempotency key with the original (or a conflict), debits conditionally on available
funds, credits, records the transfer and appends both entries. A refused item writes
nothing and reports a code instead of raising, so one client's overdraft never fails the
transfers batched with it:

    ok  replayed   SBIF0 insufficient funds   SBNF0 no such account
    SBCU0 currency mismatch                   SBIK0 key reused for another request

The statement runs in autocommit: it is its own transaction, one commit for the batch.
The DDL is written out here (not imported) so this revision stays what it was when applied.
SQLite has no stored functions: there the same steps run as statements in one IMMEDIATE
transaction (``stratabase/ledger/movements.py``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSAL = """
CREATE OR REPLACE FUNCTION sb_ledger_refusal(p_account bigint, p_currency text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN a.id IS NULL THEN 'SBNF0'
        WHEN a.currency <> p_currency THEN 'SBCU0'
        ELSE 'SBIF0'
    END
    FROM (SELECT 1) one
    LEFT JOIN ledger_accounts a ON a.id = p_account
$$
"""

_TRANSFERS = """
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
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := now();
    v_id bigint;
    v_hash text;
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

_DROP = (
    "DROP FUNCTION IF EXISTS sb_ledger_transfers("
    "bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], text[])",
    "DROP FUNCTION IF EXISTS sb_ledger_refusal(bigint, text)",
)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgres():
        op.execute(_REFUSAL)
        op.execute(_TRANSFERS)


def downgrade() -> None:
    if _is_postgres():
        for statement in _DROP:
            op.execute(statement)
