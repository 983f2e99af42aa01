"""The batch function's own rows skip the insert checks of 0005 (PostgreSQL).

``sb_ledger_transfers`` (0004) writes its set path's rows from what it has just checked in
the same call: every account of the batch exists and is locked ``FOR NO KEY UPDATE`` (a
stronger lock than the ``FOR KEY SHARE`` the check takes), no transfer names a pending or
reversed one, and each transfer's two entries are made from that transfer's own debit,
credit and amount. Checking those rows again cost about 0.2 ms of a 1.3 ms call of eight
(pgbench calling the function; with the checks' bodies skipped, 1.0-1.1 ms).

The function now runs with ``stratabase.ledger_batch = on`` (a setting of its own, set and
restored by PostgreSQL around each call) and the two insert triggers fire only when it is
not on. Its row-by-row fallback, ``sb_ledger_transfers_each``, runs with the setting off,
so its rows are checked as before; so is every other writer. Nothing else sets it: a
session that sets it by hand vouches for its rows, as one that disables the triggers does.

SQLite is unchanged (its checks are declared keys and row triggers, and it has no batch
function).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Set to ``on`` only while the batch function runs its own, already checked, statement.
TRUSTED_BATCH = "stratabase.ledger_batch"

_SIGNATURE = (
    "(bigint[], bigint[], bigint[], text[], text[], text[], text[], text[], text[], text[])"
)
_TABLES = ("ledger_transfers", "ledger_entries")


def _insert_trigger(table: str, *, skip_trusted: bool) -> list[str]:
    name = f"sb_{table}_inserted"
    when = (
        f" WHEN (current_setting('{TRUSTED_BATCH}', true) IS DISTINCT FROM 'on')"
        if skip_trusted
        else ""
    )
    return [
        f"DROP TRIGGER {name} ON {table}",
        f"CREATE TRIGGER {name} AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS added FOR EACH STATEMENT{when}"
        f" EXECUTE FUNCTION {name}()",
    ]


def _function_setting(function: str, value: str | None) -> str:
    action = f"SET {TRUSTED_BATCH} = '{value}'" if value else f"RESET {TRUSTED_BATCH}"
    return f"ALTER FUNCTION {function}{_SIGNATURE} {action}"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    triggers = [ddl for table in _TABLES for ddl in _insert_trigger(table, skip_trusted=True)]
    for ddl in [
        *triggers,
        _function_setting("sb_ledger_transfers", "on"),
        _function_setting("sb_ledger_transfers_each", "off"),
    ]:
        op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    triggers = [ddl for table in _TABLES for ddl in _insert_trigger(table, skip_trusted=False)]
    for ddl in [
        _function_setting("sb_ledger_transfers_each", None),
        _function_setting("sb_ledger_transfers", None),
        *triggers,
    ]:
        op.execute(ddl)
