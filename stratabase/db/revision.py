"""Is the database at the newest schema revision? Answered without importing Alembic.

Commands that only refuse an unmigrated database (``seed``, ``switch-theme``) need two
facts: the head revision this code knows and the one in ``alembic_version``. Asking Alembic
costs about a quarter of a second (importing it with Mako, then compiling every migration
script), which is a quarter of ``switch-theme``'s budget. Here the head comes from the
scripts' own ``revision``/``down_revision`` lines, and the current revision from one
SELECT. Anything unusual (a script not in that plain form, a branch, a revision this code
does not know) goes to :mod:`stratabase.db.migrate`, which answers with Alembic itself.
``tests/unit/test_revision.py`` checks that both ways agree.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from sqlalchemy import inspect, text

from stratabase.db.session import Database

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
_ASSIGNED = r"^{name}(?:\s*:[^=\n]*)?\s*=\s*(?:None|[\"']([^\"'\n]+)[\"'])\s*$"
_REVISION = re.compile(_ASSIGNED.format(name="revision"), re.MULTILINE)
_DOWN_REVISION = re.compile(_ASSIGNED.format(name="down_revision"), re.MULTILINE)


@functools.cache
def scripts() -> tuple[frozenset[str], str] | None:
    """Every revision the migration scripts define and the single head, from their text;
    None when that is not plain (no scripts, a script in another form, branches)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS.glob("*.py")):
        if path.name.startswith("_"):
            continue
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.findall(source)
        down = _DOWN_REVISION.findall(source)
        if len(revision) != 1 or not revision[0] or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return None
    return frozenset(revisions), heads.pop()


def head_revision() -> str:
    """The newest revision this code knows (what ``stratabase migrate`` upgrades to)."""
    found = scripts()
    if found is None:
        from stratabase.db import migrate

        return migrate.head_revision()
    return found[1]


async def current_revision(db: Database) -> str | None:
    """The database's revision (None: not migrated); an unknown one is a MigrationError."""
    async with db.engine.connect() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
            return None
        rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    found = scripts()
    if len(rows) > 1 or found is None or (rows and rows[0][0] not in found[0]):
        from stratabase.db import migrate  # Alembic words the refusal (or copes)

        return await migrate.current_revision(db)
    return str(rows[0][0]) if rows else None
