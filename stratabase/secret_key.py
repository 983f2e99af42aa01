"""A signing key that outlives the process when ``STRATABASE_SECRET_KEY`` is not set.

Cursors and webhook signatures are signed with ``settings.secret_key``. A key made per
process would make every cursor fail after a restart, and several API processes would
reject each other's. So ``serve`` and ``up`` resolve an unset key once, at start:

- SQLite: a file beside the database (``stratabase.db.key``), created with mode 0600;
- PostgreSQL: a row in ``system_state``, inserted once (the first process wins, the others
  read it), so every process on the database signs alike.

Either way one WARNING line says a key was generated: production should set the variable.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from stratabase.db import portable
from stratabase.db.faults import sqlite_path
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.exceptions import ConfigError, MigrationError
from stratabase.models import SystemState
from stratabase.settings import Settings

logger = logging.getLogger("stratabase.secret_key")

STATE_KEY = "secret_key"
MIN_LENGTH = 32


def key_path(settings: Settings) -> Path:
    """Where an embedded database keeps its key: beside it, as ``<file>.key``."""
    path = sqlite_path(settings)
    return path.with_name(path.name + ".key")


def _new_key() -> str:
    return secrets.token_urlsafe(32)


def _file_key(path: Path) -> tuple[str, bool]:
    """(key, created): create the file atomically, so concurrent starts agree on one key."""
    created = False
    if not path.exists():
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (_new_key() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(draft, path)  # fails if another process linked its key first
            created = True
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_LENGTH:
        raise ConfigError(
            f"{path} holds no usable key (under {MIN_LENGTH} characters): delete it to "
            "generate a new one, or set STRATABASE_SECRET_KEY"
        )
    if path.stat().st_mode & 0o077:
        logger.warning("%s is readable by other users: chmod 600 it", path)
    return key, created


async def _database_key(db: Database) -> tuple[str, bool]:
    """(key, created): INSERT … ON CONFLICT DO NOTHING, then read what won."""
    candidate = _new_key()
    try:
        async with db.begin() as session:
            row = {"key": STATE_KEY, "value": {"key": candidate}, "updated_at": utcnow()}
            await session.execute(
                portable.insert_or_ignore(session, SystemState, row, on=[SystemState.key])
            )
            stored = await session.execute(
                select(SystemState.value).where(SystemState.key == STATE_KEY)
            )
            key = str(stored.scalar_one()["key"])
    except ProgrammingError as exc:
        raise MigrationError("the database is not migrated: run `stratabase migrate`") from exc
    return key, key == candidate


async def ensure_secret_key(db: Database, settings: Settings) -> Settings:
    """``settings`` with a key every process on this database shares (unchanged if set)."""
    if settings.secret_key_configured:
        return settings
    # Different storage, not spelling: an embedded database keeps its key in a 0600 file.
    if settings.backend == "sqlite":
        path = key_path(settings)
        key, created = _file_key(path)
        where = str(path)
    else:
        key, created = await _database_key(db)
        where = "the database (table system_state)"
    if created:
        logger.warning(
            "STRATABASE_SECRET_KEY is not set: generated a key for cursors and webhooks, "
            "kept in %s; set STRATABASE_SECRET_KEY in production",
            where,
        )
    return settings.model_copy(update={"secret_key": SecretStr(key)})
