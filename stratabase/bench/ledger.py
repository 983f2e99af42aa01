"""``stratabase bench ledger``: transfers per second against pgbench's tpcb-like, and the
updates the naive read-then-write way loses.

PostgreSQL (the database STRATABASE_DATABASE_URL names: use a scratch one, the bench adds
users, wallets and pgbench tables): pgbench ``-i`` then ``-c 8 -j 2 -T N -b tpcb-like`` is
the reference; then our transfers at 8 concurrent clients over 10,000 wallets and over 10
hot wallets; then 8 clients deducting from the hot wallets, the naive way and ours.
SQLite: the same on a fresh scratch file, with pgbench's transaction replayed through our
engine as the reference. The books are verified at the end.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from stratabase.bench._ledger_workloads import (
    CLIENTS,
    bench_wallets,
    lost_updates,
    our_transfers,
    pgbench_tpcb,
    sqlite_tpcb,
    vacuum_ledger,
)
from stratabase.bench.report import BenchContext, Result
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.exceptions import ConfigError
from stratabase.ledger import verify
from stratabase.ledger.service import LedgerService
from stratabase.settings import Settings

WALLETS = 10_000
HOT = 10


async def run(ctx: BenchContext) -> list[Result]:
    """The suite's figures (see the module docstring); ``--quick`` runs 3 s over 1,000 wallets."""
    quick = bool(ctx.options.get("quick"))
    seconds = 3 if quick else 10
    wallets = 1_000 if quick else WALLETS
    if ctx.backend == "postgres":
        if ctx.settings.backend != "postgres":
            raise ConfigError(
                "--backend postgres: set STRATABASE_DATABASE_URL to a scratch PostgreSQL database"
            )
        return await _measure(ctx.settings, seconds, wallets, reference="pgbench")
    with tempfile.TemporaryDirectory(prefix="sb-bench-ledger-") as scratch:
        settings = ctx.settings.model_copy(
            update={"database_url": f"sqlite:///{Path(scratch) / 'ledger.db'}"}
        )
        return await _measure(settings, seconds, wallets, reference="sqlite")


async def _reference(db: Database, settings: Settings, seconds: int, reference: str) -> float:
    """pgbench's tpcb-like (PostgreSQL) or the same transaction through our engine (SQLite)."""
    if reference == "pgbench":
        return await pgbench_tpcb(settings.database_url, seconds)
    return (await sqlite_tpcb(db, seconds)).tps


async def _measure(settings: Settings, seconds: int, wallets: int, reference: str) -> list[Result]:
    settings = settings.model_copy(update={"pool_max_size": max(settings.pool_max_size, 10)})
    db = Database(settings)
    try:
        await migrate.upgrade(db)
        ledger = LedgerService(db)
        many = await bench_wallets(db, ledger, wallets, "w")
        hot = await bench_wallets(db, ledger, HOT, "hot")
        # pgbench -i vacuums the tables it fills; ours get the same start (and autovacuum
        # does not wake up on them in the middle of the measurement).
        await vacuum_ledger(db)
        # The reference runs before and after ours and is averaged: on a shared machine the
        # background load drifts, and both sides of the ratio should see the same drift.
        before = await _reference(db, settings, seconds, reference)
        spread = await our_transfers(ledger, many, seconds)
        crowded = await our_transfers(ledger, hot, seconds)
        after = await _reference(db, settings, seconds, reference)
        base = (before + after) / 2
        what = "pgbench tpcb-like, -j 2, scale 1" if reference == "pgbench" else "its SQL on SQLite"
        base_note = (
            f"{what}, {CLIENTS} clients, {seconds}s, before/after ours: {before:,.0f}/{after:,.0f}"
        )
        naive_done, naive_lost = await lost_updates(db, ledger, hot, seconds, naive=True)
        ours_done, ours_lost = await lost_updates(db, ledger, hot, seconds, naive=False)
        report = await verify.verify(db)
    finally:
        await db.dispose()
    postgres = reference == "pgbench"
    return [
        Result("reference: tpcb-like", base, "tps", note=base_note),
        Result(
            f"transfers, {CLIENTS} clients, {len(many):,} wallets",
            spread.tps,
            "tps",
            reference=base,
            target=2.0 if postgres else None,
            note=f"{spread.done:,} transfers in {spread.seconds:.1f}s, idempotency key each",
        ),
        Result(
            f"transfers, {CLIENTS} clients, {HOT} hot wallets",
            crowded.tps,
            "tps",
            reference=base,
            target=1.4 if postgres else None,
            note=f"{crowded.done:,} transfers in {crowded.seconds:.1f}s",
        ),
        Result(
            "naive read-then-write deducts: lost",
            100 * naive_lost / max(naive_done, 1),
            "% lost",
            note=f"{naive_lost:,} of {naive_done:,} deducts lost, {CLIENTS} clients, {HOT} wallets",
        ),
        Result(
            "ledger deducts: lost updates",
            ours_lost,
            "lost",
            reference=naive_lost or None,
            target=0,
            better="lower",
            note=f"0 expected; {ours_done:,} deducts, {CLIENTS} clients, {HOT} wallets",
        ),
        Result(
            "ledger verify violations after the run",
            len(report.violations),
            "violations",
            note=report.violations[0] if report.violations else "books whole",
        ),
    ]
