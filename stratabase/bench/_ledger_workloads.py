"""Workloads of the ``ledger`` bench: wallets to move between, our transfers, the naive way,
and the references (pgbench's tpcb-like on PostgreSQL, the same transaction on SQLite)."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url

from stratabase.db.session import Database
from stratabase.exceptions import ConfigError, InsufficientFunds
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount

CLIENTS = 8
#: Every bench wallet starts with this much, far more than a run can move out of it.
FUNDS = 1_000_000


@dataclass(frozen=True)
class Throughput:
    done: int
    refused: int
    seconds: float

    @property
    def tps(self) -> float:
        return self.done / self.seconds


async def closed_loop(
    clients: int, seconds: float, one: Callable[[random.Random], Awaitable[bool]]
) -> Throughput:
    """``clients`` tasks, each issuing its next request when the last one returns."""
    done = refused = 0
    deadline = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        nonlocal done, refused
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            if await one(rng):
                done += 1
            else:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(seed) for seed in range(clients)))
    return Throughput(done, refused, time.perf_counter() - started)


async def bench_wallets(db: Database, ledger: LedgerService, count: int, tag: str) -> list[int]:
    """``count`` funded wallets owned by bench users (created once, reused by later runs)."""
    rows = [
        {"email": f"bench-{tag}-{n}@bench.invalid", "username": f"b{tag}{n}"} for n in range(count)
    ]

    async def users(session):  # type: ignore[no-untyped-def]
        await session.execute(
            text(
                "INSERT INTO users (email, username, name, timezone, role, status,"
                " created_at, updated_at) VALUES (:email, :username, '', 'UTC', 'user',"
                " 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) ON CONFLICT DO NOTHING"
            ),
            rows,
        )
        await session.execute(
            text(
                "INSERT INTO ledger_accounts (kind, user_id, currency, balance, pending_debits,"
                " earned_total, spent_total, created_at, updated_at)"
                " SELECT 'user', id, 'TOK', 0, 0, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
                " FROM users WHERE email LIKE :pattern ON CONFLICT DO NOTHING"
            ),
            {"pattern": f"bench-{tag}-%"},
        )
        found = await session.execute(
            text(
                "SELECT a.id, a.balance FROM ledger_accounts a JOIN users u ON u.id = a.user_id"
                " WHERE u.email LIKE :pattern AND a.currency = 'TOK' ORDER BY a.id"
            ),
            {"pattern": f"bench-{tag}-%"},
        )
        return list(found)

    accounts = await db.transaction(users)
    treasury = await ledger.system_account(SystemAccount.TREASURY)
    poor = [account_id for account_id, balance in accounts if balance < FUNDS // 2]
    queue = iter(poor)

    async def fund() -> None:
        for account_id in queue:
            await ledger.transfer_accounts(treasury, account_id, FUNDS, reason="bench funds")

    await asyncio.gather(*(fund() for _ in range(CLIENTS)))
    return [account_id for account_id, _ in accounts]


async def vacuum_ledger(db: Database) -> None:
    """VACUUM ANALYZE the ledger tables (PostgreSQL; SQLite has nothing to catch up on)."""
    if db.backend != "postgres":
        return
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(
            "VACUUM ANALYZE ledger_accounts, ledger_transfers, ledger_entries"
        )


async def our_transfers(ledger: LedgerService, wallets: list[int], seconds: float) -> Throughput:
    """Random pairs, one token each, each with its own idempotency key (as clients send)."""
    run = uuid.uuid4().hex[:8]
    sequence = iter(range(1 << 62))

    async def one(rng: random.Random) -> bool:
        debit, credit = rng.sample(wallets, 2)
        try:
            await ledger.transfer_accounts(
                debit, credit, 1, reason="bench", key=f"bench-{run}-{next(sequence)}"
            )
        except InsufficientFunds:
            return False
        return True

    return await closed_loop(CLIENTS, seconds, one)


async def lost_updates(
    db: Database, ledger: LedgerService, wallets: list[int], seconds: float, *, naive: bool
) -> tuple[int, int]:
    """Deduct one token at a time from hot wallets; return (deducts done, deducts lost).

    The naive way is the seeds' "before": read the balance, check it, write balance - 1, in
    separate statements, on a scratch table of as many wallets (so the ledger stays whole).
    Ours is a deduct through the ledger. Lost = deducts that reported success minus what
    the balances actually lost.
    """
    fees = await ledger.system_account(SystemAccount.FEES)
    table = "bench_naive_wallets" if naive else "ledger_accounts"
    ids = ",".join(str(int(w)) for w in wallets)
    if naive:

        async def setup(session):  # type: ignore[no-untyped-def]
            await session.execute(text(f"DROP TABLE IF EXISTS {table}"))
            await session.execute(
                text(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)")
            )
            await session.execute(
                text(f"INSERT INTO {table} (id, balance) VALUES (:id, :balance)"),
                [{"id": w, "balance": FUNDS} for w in wallets],
            )

        await db.transaction(setup)

    async def total() -> int:
        async with db.session() as session:
            query = text(f"SELECT SUM(balance) FROM {table} WHERE id IN ({ids})")
            return int((await session.execute(query)).scalar_one())

    async def naive_deduct(rng: random.Random) -> bool:
        account = rng.choice(wallets)
        async with db.session() as session:
            read = text(f"SELECT balance FROM {table} WHERE id = :id")
            balance = (await session.execute(read, {"id": account})).scalar_one()
            await session.commit()
        if balance < 1:
            return False

        async def write(session):  # type: ignore[no-untyped-def]
            await session.execute(
                text(f"UPDATE {table} SET balance = :balance WHERE id = :id"),
                {"balance": balance - 1, "id": account},
            )

        await db.transaction(write)
        return True

    async def our_deduct(rng: random.Random) -> bool:
        try:
            await ledger.transfer_accounts(rng.choice(wallets), fees, 1, reason="bench deduct")
        except InsufficientFunds:
            return False
        return True

    before = await total()
    try:
        result = await closed_loop(CLIENTS, seconds, naive_deduct if naive else our_deduct)
        after = await total()
    finally:
        if naive:
            await db.transaction(lambda session: session.execute(text(f"DROP TABLE {table}")))
    return result.done, result.done - (before - after)


_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)


async def _command(*args: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise ConfigError(f"{args[0]} failed: {err.decode().strip().splitlines()[-1:]}")
    return out.decode()


async def pgbench_tpcb(database_url: str, seconds: int) -> float:
    """pgbench's built-in tpcb-like at 8 clients on the same server (scale 1, as ``-i``)."""
    import os
    import shutil

    if shutil.which("pgbench") is None:
        raise ConfigError("pgbench is not on PATH; it is the reference of this bench")
    url = make_url(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if url.password:
        env["PGPASSWORD"] = url.password
    target = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    target += ["-U", url.username or "postgres", url.database or "postgres"]
    await _command("pgbench", "-i", "-q", *target, env=env)
    try:
        out = await _command(
            "pgbench",
            "-c",
            str(CLIENTS),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-b",
            "tpcb-like",
            *target,
            env=env,
        )
    finally:
        await _command("pgbench", "-i", "-I", "d", *target, env=env)
    match = _TPS.search(out)
    if match is None:
        raise ConfigError("could not read tps from pgbench's output")
    return float(match.group(1))


async def sqlite_tpcb(db: Database, seconds: float) -> Throughput:
    """pgbench's tpcb-like transaction, statement for statement, on SQLite via our engine."""

    async def setup(session):  # type: ignore[no-untyped-def]
        for ddl in (
            "CREATE TABLE IF NOT EXISTS bench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER)",
            "CREATE TABLE IF NOT EXISTS bench_tellers (tid INTEGER PRIMARY KEY, bid INTEGER,"
            " tbalance INTEGER)",
            "CREATE TABLE IF NOT EXISTS bench_accounts (aid INTEGER PRIMARY KEY, bid INTEGER,"
            " abalance INTEGER)",
            "CREATE TABLE IF NOT EXISTS bench_history (tid INTEGER, bid INTEGER, aid INTEGER,"
            " delta INTEGER, mtime TIMESTAMP)",
        ):
            await session.execute(text(ddl))
        await session.execute(text("INSERT OR IGNORE INTO bench_branches VALUES (1, 0)"))
        await session.execute(
            text("INSERT OR IGNORE INTO bench_tellers VALUES (:t, 1, 0)"),
            [{"t": t} for t in range(1, 11)],
        )
        await session.execute(
            text("INSERT OR IGNORE INTO bench_accounts VALUES (:a, 1, 0)"),
            [{"a": a} for a in range(1, 100_001)],
        )

    await db.transaction(setup)

    async def one(rng: random.Random) -> bool:
        aid, tid, delta = rng.randint(1, 100_000), rng.randint(1, 10), rng.randint(-5000, 5000)

        async def tpcb(session):  # type: ignore[no-untyped-def]
            p = {"aid": aid, "tid": tid, "bid": 1, "delta": delta}
            await session.execute(
                text("UPDATE bench_accounts SET abalance = abalance + :delta WHERE aid = :aid"), p
            )
            await session.execute(text("SELECT abalance FROM bench_accounts WHERE aid = :aid"), p)
            await session.execute(
                text("UPDATE bench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid"), p
            )
            await session.execute(
                text("UPDATE bench_branches SET bbalance = bbalance + :delta WHERE bid = :bid"), p
            )
            await session.execute(
                text(
                    "INSERT INTO bench_history (tid, bid, aid, delta, mtime)"
                    " VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)"
                ),
                p,
            )

        await db.transaction(tpcb)
        return True

    return await closed_loop(CLIENTS, seconds, one)
