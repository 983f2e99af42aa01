"""Driver errors become domain errors here, by constraint name, and nowhere else.

PostgreSQL names the constraint; SQLite names CHECKs but describes UNIQUE failures by
columns (``UNIQUE constraint failed: users.email``), so we look the columns up in the
metadata to recover the constraint name. SQLite's foreign-key error names nothing at all
(``FOREIGN KEY constraint failed``), so on SQLite an engine hook (:meth:`ErrorTranslator.attach`)
asks the database which key broke, in the failed statement's own transaction: it runs the
statement again inside a savepoint with the keys deferred, reads ``PRAGMA
foreign_key_check`` for the statement's table and the tables referring to it, and rolls the
savepoint back. Both backends therefore raise the same error, message and field included.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ForeignKeyConstraint,
    MetaData,
    PrimaryKeyConstraint,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from stratabase.exceptions import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvariantViolation,
    NotFound,
    StratabaseError,
)

_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_PG_CHECK = "23514"
_PG_NOT_NULL = "23502"
#: Serialization failure, deadlock: the transaction may simply be run again.
PG_RETRYABLE = frozenset({"40001", "40P01"})

logger = logging.getLogger("stratabase.db")

_SQLITE_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '(\w+)'")
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")
_SQLITE_NOT_NULL = re.compile(r"NOT NULL constraint failed: \w+\.(\w+)")
_SQLITE_BUSY_CODES = frozenset({5, 6, 261, 262, 517})  # BUSY, LOCKED and their extended codes
_SQLITE_FOREIGN_KEY = "FOREIGN KEY constraint failed"
_SQLITE_WRITE = re.compile(
    r"^\s*(INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+[\"`\[]?(\w+)",
    re.IGNORECASE,
)
#: Set by the SQLite hook on the raised IntegrityError: (foreign key name, still referenced?).
_FOREIGN_KEY_FOUND = "stratabase_foreign_key"


@dataclass(frozen=True)
class ConstraintInfo:
    """A named constraint: its table and columns, from which a refusal names its field."""

    name: str
    table: str
    columns: tuple[str, ...]

    @property
    def field(self) -> str:
        """The field a refusal names: the constraint's columns, comma-joined."""
        return ",".join(self.columns)


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a (wrapped) asyncpg error, if any."""
    orig = getattr(exc, "orig", exc)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def is_retryable(exc: BaseException) -> bool:
    """True for errors that another attempt of the same transaction may not hit."""
    if not isinstance(exc, DBAPIError):
        return False
    if sqlstate(exc) in PG_RETRYABLE:
        return True
    if isinstance(exc, OperationalError):
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if code in _SQLITE_BUSY_CODES:
            return True
        text = str(exc.orig).lower()
        return "database is locked" in text or "database table is locked" in text
    return False


class ErrorTranslator:
    """Maps integrity errors to domain errors using the schema's constraint names."""

    def __init__(self, metadata: MetaData) -> None:
        self._by_name: dict[str, ConstraintInfo] = {}
        self._by_columns: dict[tuple[str, frozenset[str]], ConstraintInfo] = {}
        #: Foreign keys by (table, columns), and the tables each table is referred to by.
        self._foreign_keys: dict[tuple[str, tuple[str, ...]], ConstraintInfo] = {}
        self._referrers: dict[str, list[str]] = {}
        for table in metadata.tables.values():
            uniques: list[tuple[str, tuple[str, ...]]] = []
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
                    uniques.append(
                        (str(constraint.name), tuple(c.name for c in constraint.columns))
                    )
                elif constraint.name:
                    columns = tuple(c.name for c in getattr(constraint, "columns", ()))
                    info = ConstraintInfo(str(constraint.name), table.name, columns)
                    self._add(info)
                    if isinstance(constraint, ForeignKeyConstraint):
                        self._foreign_keys[(table.name, columns)] = info
                        referred = constraint.referred_table.name
                        if table.name not in self._referrers.setdefault(referred, []):
                            self._referrers[referred].append(table.name)
            for index in table.indexes:
                columns = tuple(c.name for c in index.columns)
                if index.unique:
                    uniques.append((str(index.name), columns))
                else:
                    self._add(ConstraintInfo(str(index.name), table.name, columns))
            for name, columns in uniques:
                info = ConstraintInfo(name, table.name, columns)
                self._add(info)
                self._by_columns.setdefault((table.name, frozenset(columns)), info)

    def _add(self, info: ConstraintInfo) -> None:
        self._by_name[info.name] = info

    def constraint(self, name: str) -> ConstraintInfo | None:
        """The constraint a driver error names, or None."""
        return self._by_name.get(name)

    def translate(self, exc: IntegrityError) -> StratabaseError:
        """The domain error for a refused write, the same on both backends."""
        code = sqlstate(exc)
        if code is not None:
            return self._translate_postgres(exc, code)
        return self._translate_sqlite(exc)

    def _translate_postgres(self, exc: IntegrityError, code: str) -> StratabaseError:
        cause = getattr(exc.orig, "__cause__", None)
        name = getattr(cause, "constraint_name", None) or ""
        detail = getattr(cause, "detail", None) or ""
        info = self._by_name.get(name)
        if code == _PG_UNIQUE:
            return self._already_exists(info, name)
        if code == _PG_FOREIGN_KEY:
            return self._foreign_key(info, referenced="still referenced" in detail)
        if code == _PG_CHECK:
            return self._invariant(info, name)
        if code == _PG_NOT_NULL:
            column = getattr(cause, "column_name", None)
            return InvalidInput(f"{column or 'a field'} is required", field=column)
        return StratabaseError(f"integrity error ({code})")

    def _translate_sqlite(self, exc: IntegrityError) -> StratabaseError:
        message = str(exc.orig)
        if match := _SQLITE_UNIQUE_INDEX.search(message):
            name = match.group(1)
            return self._already_exists(self._by_name.get(name), name)
        if match := _SQLITE_UNIQUE.search(message):
            parts = [part.strip() for part in match.group(1).split(",")]
            table = parts[0].split(".")[0]
            columns = frozenset(part.split(".", 1)[-1] for part in parts)
            info = self._by_columns.get((table, columns))
            return self._already_exists(info, info.name if info else "")
        if match := _SQLITE_CHECK.search(message):
            name = match.group(1)
            return self._invariant(self._by_name.get(name), name)
        if _SQLITE_FOREIGN_KEY in message:
            found: tuple[str, bool] | None = getattr(exc, _FOREIGN_KEY_FOUND, None)
            if found is not None:
                return self._foreign_key(self._by_name.get(found[0]), referenced=found[1])
            # The hook could not tell (no statement to replay): the statement's verb decides.
            statement = (exc.statement or "").lstrip().upper()
            return self._foreign_key(None, referenced=statement.startswith("DELETE"))
        if match := _SQLITE_NOT_NULL.search(message):
            return InvalidInput(f"{match.group(1)} is required", field=match.group(1))
        return StratabaseError("integrity error")

    # -- SQLite: which foreign key broke ---------------------------------------------

    def attach(self, engine: Engine) -> None:
        """Hook into a SQLite engine so its foreign-key errors name the key (no-op elsewhere)."""
        if engine.dialect.name == "sqlite":
            event.listen(engine, "handle_error", self._on_sqlite_error)

    def _on_sqlite_error(self, context: ExceptionContext) -> None:
        exc = context.sqlalchemy_exception
        if not isinstance(exc, IntegrityError) or _SQLITE_FOREIGN_KEY not in str(exc.orig):
            return
        if context.connection is None or not context.statement:
            return
        many = bool(context.execution_context and context.execution_context.executemany)
        try:
            found = self._find_foreign_key(
                context.connection.connection.dbapi_connection,
                context.statement,
                context.parameters,
                many=many,
            )
        except Exception:  # the probe only refines the error: never replace it
            logger.debug("could not tell which foreign key failed", exc_info=True)
            return
        if found is not None:
            setattr(exc, _FOREIGN_KEY_FOUND, found)

    def _find_foreign_key(
        self, dbapi_connection: Any, statement: str, parameters: Any, *, many: bool
    ) -> tuple[str, bool] | None:
        """(key name, still referenced?) for a statement that failed on a foreign key.

        Replays the statement in a savepoint with the keys deferred, so it goes through,
        asks SQLite which rows now break a key, and rolls the savepoint back: nothing of the
        replay survives, and the caller's transaction is as the failed statement left it.
        """
        match = _SQLITE_WRITE.match(statement)
        table = match.group(2) if match else None
        verb = match.group(1).split()[0].upper() if match else ""
        deleting = verb == "DELETE"
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SAVEPOINT stratabase_fk_probe")
            try:
                cursor.execute("PRAGMA defer_foreign_keys = ON")
                if many:  # rows before the failing one went in and are still there
                    for row in parameters:
                        try:
                            cursor.execute(statement, row)
                        except Exception:  # such a row, now a duplicate: skip it
                            continue
                else:
                    cursor.execute(statement, parameters)
                for candidate in self._tables_to_check(table, verb):
                    rows = _foreign_key_check(cursor, candidate)
                    if rows:
                        child, fk_id = rows[0][0], rows[0][3]
                        columns = _foreign_key_columns(cursor, child, fk_id)
                        info = self._foreign_keys.get((child, columns))
                        if info is None:
                            return None
                        return info.name, deleting or child != table
                return None
            finally:
                cursor.execute("ROLLBACK TO stratabase_fk_probe")
                cursor.execute("RELEASE stratabase_fk_probe")
                cursor.execute("PRAGMA defer_foreign_keys = OFF")
        finally:
            cursor.close()

    def _tables_to_check(self, table: str | None, verb: str) -> list[str | None]:
        """Where a broken key can be: an insert breaks its table's keys, a delete the keys
        of the tables referring to it, an update either; None (every table) comes last."""
        if table is None:
            return [None]
        referrers = self._referrers.get(table, [])
        if verb == "INSERT":
            return [table, None]
        if verb == "DELETE":
            return [*referrers, None]
        return [table, *(t for t in referrers if t != table), None]

    def _foreign_key(self, info: ConstraintInfo | None, *, referenced: bool) -> StratabaseError:
        field = info.field if info else None
        if referenced:
            return Conflict("the object is still referenced by other data", field=field)
        return NotFound(f"the referenced {field or 'object'} does not exist", field=field)

    @staticmethod
    def _already_exists(info: ConstraintInfo | None, name: str) -> AlreadyExists:
        if info is None:
            return AlreadyExists("a unique value is already taken", constraint=name or None)
        return AlreadyExists(
            f"{info.table.rstrip('s')} with this {info.field} already exists",
            field=info.field,
            constraint=info.name,
        )

    @staticmethod
    def _invariant(info: ConstraintInfo | None, name: str) -> InvariantViolation:
        field = info.field if info and info.columns else None
        return InvariantViolation(
            f"refused by constraint {name}" if name else "refused by a constraint",
            field=field,
            constraint=name or None,
        )


def _foreign_key_check(cursor: Any, table: str | None) -> Sequence[Sequence[Any]]:
    """Rows of ``PRAGMA foreign_key_check``: (table, rowid, parent, key id)."""
    pragma = "PRAGMA foreign_key_check" + (f'("{table}")' if table else "")
    cursor.execute(pragma)
    return list(cursor.fetchall())


def _foreign_key_columns(cursor: Any, table: str, fk_id: int) -> tuple[str, ...]:
    """The local columns of key ``fk_id`` of ``table``, in the key's order."""
    cursor.execute(f'PRAGMA foreign_key_list("{table}")')
    rows = [row for row in cursor.fetchall() if row[0] == fk_id]
    return tuple(str(row[3]) for row in sorted(rows, key=lambda row: row[1]))
