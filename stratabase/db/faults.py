"""Why the database cannot be used, in one line: connect failures and read-only databases.

The engine (``engine.py``) calls these from its connect and error hooks, so every caller —
API, worker, each CLI command — gets :class:`DatabaseUnavailable` or
:class:`DatabaseReadOnly` whose message names the database (never its password) and the
cause, instead of a driver traceback.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from stratabase.db.errors import sqlstate
from stratabase.exceptions import DatabaseReadOnly, DatabaseUnavailable
from stratabase.settings import Settings

#: SQLite result codes (primary code = extended code & 0xFF).
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
_SQLITE_READONLY_DIRECTORY = 1544
#: PostgreSQL: a write in a read-only transaction (hot standby, default_transaction_read_only).
_PG_READ_ONLY = "25006"


def describe(settings: Settings) -> str:
    """The database as people know it: a SQLite path, or the URL with the password hidden."""
    url = make_url(settings.database_url)
    if settings.backend == "sqlite":
        return str(sqlite_path(settings))
    return url.render_as_string(hide_password=True)


def sqlite_path(settings: Settings) -> Path:
    """The file of the settings' SQLite database, as an absolute path."""
    return Path(make_url(settings.database_url).database or "").absolute()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    return int(code) if isinstance(code, int) else None


def _scrub(text: str, settings: Settings) -> str:
    password = make_url(settings.database_url).password
    return text.replace(str(password), "***") if password else text


def sqlite_open_problem(settings: Settings) -> str | None:
    """Why SQLite cannot open the file, when the file system already says so; else None.

    Checked before connecting: SQLite's own error ("unable to open database file") names
    no cause, and a failed aiosqlite connect leaves a thread behind that outlives a CLI.
    """
    path = sqlite_path(settings)
    parent = path.parent
    if not parent.is_dir():
        return f"the directory {parent} does not exist"
    if path.is_dir():
        return f"{path} is a directory"
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        return f"the directory {parent} is not writable, so the file cannot be created"
    return None


def _network_reason(exc: BaseException, settings: Settings) -> str:
    url = make_url(settings.database_url)
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused (is PostgreSQL running on {where}?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host {url.host!r}"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {settings.pool_acquire_timeout:g} s"
    return getattr(exc, "strerror", None) or _first_line(exc)


def _writable_directory(directory: Path) -> bool:
    """Try it: ``os.access`` says yes to root even on an immutable or read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def _read_only_directory(path: Path) -> DatabaseReadOnly:
    return DatabaseReadOnly(
        f"the SQLite database {path} is read-only: its directory is not writable "
        f"(SQLite needs to create {path.name}-wal and {path.name}-shm beside it)"
    )


def connect_failure(exc: BaseException, settings: Settings) -> DatabaseUnavailable:
    """The error a failed connect becomes: what was tried, and why it failed."""
    if settings.backend == "sqlite":
        path = sqlite_path(settings)
        code = _sqlite_code(exc)
        if code is None or code & 0xFF != _SQLITE_CANTOPEN:
            reason = _first_line(getattr(exc, "orig", exc))
        elif problem := sqlite_open_problem(settings):
            reason = problem
        elif not _writable_directory(path.parent):
            return _read_only_directory(path)
        else:
            reason = "unable to open the database file"
        return DatabaseUnavailable(f"cannot open the SQLite database {path}: {reason}")
    orig = getattr(exc, "orig", exc)
    # An OSError: no server answered. Otherwise it did: no such database or role, bad password…
    reason = _network_reason(orig, settings) if isinstance(orig, OSError) else _first_line(orig)
    return DatabaseUnavailable(
        f"cannot reach the database {describe(settings)}: {_scrub(reason, settings)}"
    )


def database_fault(exc: BaseException, settings: Settings) -> DatabaseUnavailable | None:
    """A driver error that means the database cannot take writes (or is not a database)."""
    code = _sqlite_code(exc)
    if settings.backend == "sqlite" and code is not None:
        path = sqlite_path(settings)
        if code == _SQLITE_READONLY_DIRECTORY:
            return _read_only_directory(path)
        if code & 0xFF == _SQLITE_READONLY:
            return DatabaseReadOnly(
                f"the SQLite database {path} is read-only: the file cannot be written "
                "(its permissions, a read-only mount or an immutable flag)"
            )
        if code & 0xFF == _SQLITE_NOTADB:
            return DatabaseUnavailable(f"{path} is not a SQLite database")
        if code & 0xFF == _SQLITE_CANTOPEN:
            return connect_failure(exc, settings)
        return None
    if sqlstate(exc) == _PG_READ_ONLY:
        return DatabaseReadOnly(
            f"the database {describe(settings)} is read-only (a standby, or "
            "default_transaction_read_only is on)"
        )
    return None
