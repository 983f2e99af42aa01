"""Who is using an embedded (SQLite) database: a lock file beside it, taken with ``flock``.

``serve`` and ``up`` hold a shared lock for as long as they run; ``reset`` takes it
exclusively. ``reset`` replaces the file, and a server still holding the old one would keep
acknowledging writes to a deleted file — so reset refuses while a server runs, and a
server refuses to start during a reset. The kernel drops a dead process's lock, so a crash
never leaves the database "in use". PostgreSQL needs none of this (the server owns the
data; nothing is deleted under a client).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stratabase.db.faults import sqlite_path
from stratabase.exceptions import Conflict, DatabaseReadOnly
from stratabase.settings import Settings


def lock_path(settings: Settings) -> Path:
    """The lock file a serving process holds beside an embedded database."""
    path = sqlite_path(settings)
    return path.with_name(path.name + ".lock")


@contextmanager
def _locked(settings: Settings, mode: int, busy: str) -> Iterator[None]:
    if settings.backend != "sqlite":
        yield
        return
    path = lock_path(settings)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # no directory: the connect will say so, in its words
        yield
        return
    except PermissionError as exc:
        if mode == fcntl.LOCK_SH:
            # A directory we cannot write to: nobody can delete the database in it either.
            yield
            return
        raise DatabaseReadOnly(
            f"cannot create {path}: the directory of the SQLite database is not writable"
        ) from exc
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(busy) from exc
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def serving(settings: Settings) -> Iterator[None]:
    """Held by a running server: ``reset`` refuses meanwhile."""
    with _locked(
        settings,
        fcntl.LOCK_SH,
        f"{sqlite_path(settings)} is being reset: start the server when the reset is done",
    ):
        yield


@contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Held while the database is replaced: refused while any server holds it."""
    with _locked(
        settings,
        fcntl.LOCK_EX,
        f"a stratabase server is using {sqlite_path(settings)}: stop it before resetting "
        "(it would keep writing to the deleted file)",
    ):
        yield
