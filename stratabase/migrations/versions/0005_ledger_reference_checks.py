"""Ledger references checked once per statement instead of once per row (PostgreSQL).

A batch of eight transfers (``sb_ledger_transfers``, migration 0004) fired 64 foreign-key
triggers: each transfer's two accounts, pending and reversal ids (the last two NULL, still
fired), each entry's transfer and account, every one a separate lookup through SPI. With
``auto_explain`` they were two thirds of the write statement. This revision replaces the six
foreign keys of ``ledger_transfers`` and ``ledger_entries`` by statement-level triggers
that check a whole statement's rows in one query each, and enforce more than the keys did:

* inserted transfers: both accounts exist (locked ``FOR KEY SHARE``, as a foreign key
  locks them, so a concurrent delete waits and then fails); a pending or reversed transfer
  they name exists;
* inserted entries: their transfer exists, and each entry sits on that transfer's side for
  its sign (negative on the debit account, positive on the credit account) for exactly the
  transfer's amount. The foreign keys only said that the transfer and the account existed;
* updates may not change a row's references or amount, and a transfer or account still
  referenced may not be deleted: the ``ON DELETE RESTRICT`` the keys gave, checked once
  after each delete statement as semi-joins (emptying the tables takes about a second per
  million rows; a lookup per deleted row would scan unindexed columns once per row).

A missing or still-referenced row raises SQLSTATE 23503 under the old key's name, so error
translation (``db/errors.py``) is unchanged; an entry off its transfer's side, or a changed
reference, raises a check violation (``ck_ledger_entries_side_of_transfer``,
``ck_<table>_references_fixed``), worded on SQLite the way SQLite words its own CHECKs, so
both backends give the same domain error. Entries' ``transfer_id`` index goes too: on
PostgreSQL nothing looks entries up by transfer but whole-table joins (``ledger verify``,
the delete check above).

SQLite keeps its declared keys and the index: it checks a key through an index in the same
process, at no comparable cost, and needs the index for its own delete checks. It gets the
two checks the keys could not express, as row triggers: an entry sits on its transfer's
side for the transfer's amount, and references do not change on update.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, referred table) of each foreign key this revision replaces.
_KEYS = (
    ("ledger_transfers", "debit_account_id", "ledger_accounts"),
    ("ledger_transfers", "credit_account_id", "ledger_accounts"),
    ("ledger_transfers", "pending_id", "ledger_transfers"),
    ("ledger_transfers", "reverses_id", "ledger_transfers"),
    ("ledger_entries", "transfer_id", "ledger_transfers"),
    ("ledger_entries", "account_id", "ledger_accounts"),
)

#: The body of each insert check: the first row of the statement's new rows (``added``)
#: that breaks a rule, as ``v_bad``; then the error it raises.
_TRANSFERS_INSERTED = """
    -- Locked first, as a foreign key locks them: a concurrent delete waits for this
    -- transaction, or has committed and the check below (a new snapshot) sees it gone.
    PERFORM 1 FROM ledger_accounts a
      WHERE a.id IN (SELECT debit_account_id FROM added UNION SELECT credit_account_id FROM added)
      ORDER BY a.id
        FOR KEY SHARE;
    SELECT x.id, x.column_name INTO v_bad
      FROM (SELECT t.id,
                   CASE WHEN NOT EXISTS (SELECT 1 FROM ledger_accounts a
                                          WHERE a.id = t.debit_account_id)
                        THEN 'debit_account_id'
                        WHEN NOT EXISTS (SELECT 1 FROM ledger_accounts a
                                          WHERE a.id = t.credit_account_id)
                        THEN 'credit_account_id'
                        WHEN t.pending_id IS NOT NULL
                             AND NOT EXISTS (SELECT 1 FROM ledger_transfers p
                                              WHERE p.id = t.pending_id)
                        THEN 'pending_id'
                        WHEN t.reverses_id IS NOT NULL
                             AND NOT EXISTS (SELECT 1 FROM ledger_transfers r
                                              WHERE r.id = t.reverses_id)
                        THEN 'reverses_id'
                   END AS column_name
              FROM added t) x
     WHERE x.column_name IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transfer % names a row that does not exist in %', v_bad.id,
                        v_bad.column_name
              USING ERRCODE = 'foreign_key_violation', TABLE = 'ledger_transfers',
                    COLUMN = v_bad.column_name,
                    CONSTRAINT = 'fk_ledger_transfers_' || v_bad.column_name || '_'
                        || CASE WHEN v_bad.column_name LIKE '%account_id'
                                THEN 'ledger_accounts' ELSE 'ledger_transfers' END;
    END IF;
"""

_ENTRIES_INSERTED = """
    SELECT e.id, e.transfer_id, t.id IS NULL AS missing INTO v_bad
      FROM added e
      LEFT JOIN ledger_transfers t ON t.id = e.transfer_id
     WHERE t.id IS NULL
        OR e.account_id <> CASE WHEN e.amount < 0 THEN t.debit_account_id
                                ELSE t.credit_account_id END
        OR abs(e.amount) <> t.amount
     LIMIT 1;
    IF FOUND AND v_bad.missing THEN
        RAISE EXCEPTION 'ledger entry % names transfer %, which does not exist',
                        v_bad.id, v_bad.transfer_id
              USING ERRCODE = 'foreign_key_violation', TABLE = 'ledger_entries',
                    COLUMN = 'transfer_id',
                    CONSTRAINT = 'fk_ledger_entries_transfer_id_ledger_transfers';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'ledger entry % is not a side of transfer % (account or amount)',
                        v_bad.id, v_bad.transfer_id
              USING ERRCODE = 'check_violation', TABLE = 'ledger_entries',
                    CONSTRAINT = 'ck_ledger_entries_side_of_transfer';
    END IF;
"""

_INSERT_CHECKS = {"ledger_transfers": _TRANSFERS_INSERTED, "ledger_entries": _ENTRIES_INSERTED}


def _insert_check(table: str) -> list[str]:
    """The check of ``table``'s inserted rows, once per statement (function, then trigger).

    Every row is reached by key. The plans are kept for the connection's life (a batch
    sender's connection lives long); one made while a table was nearly empty must not scan
    it whole once it holds millions of rows, hence ``enable_seqscan = off`` (as in 0004).
    """
    function = f"""
CREATE FUNCTION sb_{table}_inserted() RETURNS trigger
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    v_bad record;
BEGIN
{_INSERT_CHECKS[table]}
    RETURN NULL;
END;
$$"""
    trigger = (
        f"CREATE TRIGGER sb_{table}_inserted AFTER INSERT ON {table}"
        f" REFERENCING NEW TABLE AS added FOR EACH STATEMENT"
        f" EXECUTE FUNCTION sb_{table}_inserted()"
    )
    return [function, trigger]


_REFERENCES_FIXED = """
CREATE FUNCTION sb_ledger_references_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % row % cannot change: post a reversing transfer instead',
                    TG_ARGV[0], TG_TABLE_NAME, OLD.id
          USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME,
                CONSTRAINT = 'ck_' || TG_TABLE_NAME || '_references_fixed';
END;
$$"""


def _drop_check(table: str, event: str) -> list[str]:
    name = f"sb_{table}_{event}"
    return [f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()"]


#: For each referenced table, the (table, column) pairs that point at its rows.
_REFERRERS = {
    "ledger_transfers": (
        ("ledger_entries", "transfer_id"),
        ("ledger_transfers", "pending_id"),
        ("ledger_transfers", "reverses_id"),
    ),
    "ledger_accounts": (
        ("ledger_entries", "account_id"),
        ("ledger_transfers", "debit_account_id"),
        ("ledger_transfers", "credit_account_id"),
    ),
}


def _delete_check(table: str) -> list[str]:
    """``ON DELETE RESTRICT`` for ``table``, once per statement (function, then trigger).

    Planned afresh on every delete (``EXECUTE``): a plan cached for a one-row delete loops
    over the deleted rows and scans unindexed columns once per row, which a reset of 10,000
    accounts then reused for 112 s (0.14 s planned for its size). One equality per
    ``EXISTS``, so each becomes a semi-join the planner may hash; an aggregate rather than
    ``LIMIT 1``, which would plan for an early match where a reset finds none.
    """
    referrers = _REFERRERS[table]
    found = "\n UNION ALL\n".join(
        f"SELECT g.id FROM removed g WHERE EXISTS"
        f" (SELECT 1 FROM {referrer} r WHERE r.{column} = g.id)"
        for referrer, column in referrers
    )
    referrer, column = referrers[0]
    function = f"""
CREATE FUNCTION sb_{table}_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    EXECUTE 'SELECT min(x.id) FROM ({found}) x' INTO v_id;
    IF v_id IS NOT NULL THEN
        RAISE EXCEPTION 'row % of {table} is still referenced by the ledger', v_id
              USING ERRCODE = 'foreign_key_violation', TABLE = '{table}',
                    DETAIL = format('Key (id)=(%s) is still referenced.', v_id),
                    CONSTRAINT = 'fk_{referrer}_{column}_{table}';
    END IF;
    RETURN NULL;
END;
$$"""
    trigger = (
        f"CREATE TRIGGER sb_{table}_deleted AFTER DELETE ON {table}"
        f" REFERENCING OLD TABLE AS removed FOR EACH STATEMENT"
        f" EXECUTE FUNCTION sb_{table}_deleted()"
    )
    return [function, trigger]


_SQLITE_TRIGGERS = (
    """
CREATE TRIGGER sb_ledger_entries_inserted BEFORE INSERT ON ledger_entries
WHEN EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.id = NEW.transfer_id)
 AND NOT EXISTS (
    SELECT 1 FROM ledger_transfers t
     WHERE t.id = NEW.transfer_id
       AND NEW.account_id = CASE WHEN NEW.amount < 0 THEN t.debit_account_id
                                 ELSE t.credit_account_id END
       AND abs(NEW.amount) = t.amount)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: ck_ledger_entries_side_of_transfer');
END
""",
)
_SQLITE_DROP = ("DROP TRIGGER sb_ledger_entries_inserted",)

#: Columns that may not change once a row is written, per table (both backends).
_FIXED = {
    "ledger_accounts": ("id",),
    "ledger_transfers": (
        "id",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "pending_id",
        "reverses_id",
    ),
    "ledger_entries": ("id", "transfer_id", "account_id", "amount"),
}


def _fixed_trigger(table: str, columns: tuple[str, ...], dialect: str) -> str:
    """Refuse an update that changes ``columns`` of ``table`` (a CHECK-like violation)."""
    name = f"sb_{table}_references_fixed"
    distinct = "IS DISTINCT FROM" if dialect == "postgresql" else "IS NOT"
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)
    head = f"CREATE TRIGGER {name} BEFORE UPDATE OF {', '.join(columns)} ON {table}"
    if dialect == "postgresql":
        what = ", ".join(columns)
        return (
            f"{head} FOR EACH ROW WHEN ({changed})"
            f" EXECUTE FUNCTION sb_ledger_references_fixed('{what}')"
        )
    message = f"CHECK constraint failed: ck_{table}_references_fixed"
    return f"{head} WHEN {changed} BEGIN SELECT RAISE(ABORT, '{message}'); END"


def _fixed_triggers(dialect: str) -> list[str]:
    return [_fixed_trigger(table, columns, dialect) for table, columns in _FIXED.items()]


def _drop_fixed_triggers(dialect: str) -> list[str]:
    on = " ON {table}" if dialect == "postgresql" else ""
    return [
        f"DROP TRIGGER sb_{table}_references_fixed" + on.format(table=table) for table in _FIXED
    ]


def _key_name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect != "postgresql":
        for ddl in [*_SQLITE_TRIGGERS, *_fixed_triggers(dialect)]:
            op.execute(ddl)
        return
    for table, column, referred in _KEYS:
        op.drop_constraint(_key_name(table, column, referred), table, type_="foreignkey")
    op.drop_index("ix_ledger_entries_transfer_id", table_name="ledger_entries")
    inserts = [ddl for table in _INSERT_CHECKS for ddl in _insert_check(table)]
    deletes = [ddl for table in _REFERRERS for ddl in _delete_check(table)]
    for ddl in [*inserts, *deletes, _REFERENCES_FIXED, *_fixed_triggers(dialect)]:
        op.execute(ddl)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect != "postgresql":
        for ddl in [*_SQLITE_DROP, *_drop_fixed_triggers(dialect)]:
            op.execute(ddl)
        return
    inserts = [ddl for table in _INSERT_CHECKS for ddl in _drop_check(table, "inserted")]
    deletes = [ddl for table in _REFERRERS for ddl in _drop_check(table, "deleted")]
    fixed = [*_drop_fixed_triggers(dialect), "DROP FUNCTION sb_ledger_references_fixed()"]
    for ddl in [*fixed, *inserts, *deletes]:
        op.execute(ddl)
    op.create_index("ix_ledger_entries_transfer_id", "ledger_entries", ["transfer_id"])
    for table, column, referred in _KEYS:
        op.create_foreign_key(
            _key_name(table, column, referred),
            table,
            referred,
            [column],
            ["id"],
            ondelete="RESTRICT",
        )
