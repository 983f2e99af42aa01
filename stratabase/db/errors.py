"""Driver errors become domain errors here, by constraint name, and nowhere else.

PostgreSQL names the constraint; SQLite names CHECKs but describes UNIQUE failures by
columns (``UNIQUE constraint failed: users.email``), so we look the columns up in the
metadata to recover the constraint name. Both backends therefore raise the same error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import MetaData, PrimaryKeyConstraint, UniqueConstraint
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

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")
_SQLITE_NOT_NULL = re.compile(r"NOT NULL constraint failed: \w+\.(\w+)")
_SQLITE_BUSY_CODES = frozenset({5, 6, 261, 262, 517})  # BUSY, LOCKED and their extended codes


@dataclass(frozen=True)
class ConstraintInfo:
    name: str
    table: str
    columns: tuple[str, ...]

    @property
    def field(self) -> str:
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
        for table in metadata.tables.values():
            uniques: list[tuple[str, tuple[str, ...]]] = []
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
                    uniques.append(
                        (str(constraint.name), tuple(c.name for c in constraint.columns))
                    )
                elif constraint.name:
                    columns = tuple(c.name for c in getattr(constraint, "columns", ()))
                    self._add(ConstraintInfo(str(constraint.name), table.name, columns))
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
        return self._by_name.get(name)

    def translate(self, exc: IntegrityError) -> StratabaseError:
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
            field = info.field if info else None
            if "still referenced" in detail:
                return Conflict("the object is still referenced by other data", field=field)
            return NotFound(f"the referenced {field or 'object'} does not exist", field=field)
        if code == _PG_CHECK:
            return self._invariant(info, name)
        if code == _PG_NOT_NULL:
            column = getattr(cause, "column_name", None)
            return InvalidInput(f"{column or 'a field'} is required", field=column)
        return StratabaseError(f"integrity error ({code})")

    def _translate_sqlite(self, exc: IntegrityError) -> StratabaseError:
        message = str(exc.orig)
        if match := _SQLITE_UNIQUE.search(message):
            parts = [part.strip() for part in match.group(1).split(",")]
            table = parts[0].split(".")[0]
            columns = frozenset(part.split(".", 1)[-1] for part in parts)
            info = self._by_columns.get((table, columns))
            return self._already_exists(info, info.name if info else "")
        if match := _SQLITE_CHECK.search(message):
            name = match.group(1)
            return self._invariant(self._by_name.get(name), name)
        if "FOREIGN KEY constraint failed" in message:
            statement = (exc.statement or "").lstrip().upper()
            if statement.startswith(("DELETE", "UPDATE")):
                return Conflict("the object is still referenced by other data")
            return NotFound("a referenced object does not exist")
        if match := _SQLITE_NOT_NULL.search(message):
            return InvalidInput(f"{match.group(1)} is required", field=match.group(1))
        return StratabaseError("integrity error")

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
