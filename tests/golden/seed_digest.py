"""The seed generator's output, pinned: a digest of every seeded row, and how to remake it.

``python -m tests.golden.seed_digest`` seeds a fresh SQLite database through the real CLI
(in a subprocess, with its own PYTHONHASHSEED) and prints the digest; ``--write`` stores it
in ``seed_small.sha256`` next to this file (``scripts/golden-seed`` does that). Regenerate
only when a change to the generated data is intended, and say so in the commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from stratabase.seed.digest import content_hash
from stratabase.settings import load_settings

GOLDEN = Path(__file__).with_name("seed_small.sha256")
THEME, SIZE, SEED = "politics", "small", 7
#: The instant every seeded timestamp counts back from, pinned when the CLI lets us.
EPOCH = "2026-11-01"
#: Generous: a busy two-core machine runs a migration and a small seed in ~15 s.
TIMEOUT_SECONDS = 600


def _stratabase(url: str, *args: str, hash_seed: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update(STRATABASE_DATABASE_URL=url, PYTHONHASHSEED=hash_seed)
    done = subprocess.run(
        [sys.executable, "-m", "stratabase", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stratabase {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def seed_arguments(url: str, hash_seed: str) -> list[str]:
    """The seed command's arguments: theme, size, seed, and the epoch once it is an option."""
    args = ["seed", "--theme", THEME, "--size", SIZE, "--seed", str(SEED), "--quiet"]
    if "--epoch" in _stratabase(url, "seed", "--help", hash_seed=hash_seed):
        args += ["--epoch", EPOCH]
    return args


def seed(url: str, *, hash_seed: str, migrate: bool = True) -> None:
    """Migrate (unless the database already is) and seed ``url`` in subprocesses."""
    if migrate:
        _stratabase(url, "migrate", hash_seed=hash_seed)
    _stratabase(url, *seed_arguments(url, hash_seed), hash_seed=hash_seed)


async def digest(url: str) -> str:
    """The content hash of every seeded row (``stratabase.seed.digest.content_hash``)."""
    engine = create_async_engine(load_settings(database_url=url).async_database_url)
    try:
        async with engine.connect() as conn:
            return await content_hash(conn)
    finally:
        await engine.dispose()


def golden() -> str:
    return GOLDEN.read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store it in {GOLDEN.name}")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'golden.db'}"
        seed(url, hash_seed="0")
        value = asyncio.run(digest(url))
    print(value)
    if options.write:
        GOLDEN.write_text(f"{value}  {THEME} {SIZE} seed={SEED} epoch={EPOCH}\n")


if __name__ == "__main__":
    main()
