"""Many writers at once — tasks in one process, then several processes — and the books
still balance to the unit: nothing lost, nothing doubled, nothing negative."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from stratabase.db.session import Database
from stratabase.exceptions import Conflict, InsufficientFunds
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount
from tests.integration.ledger_helpers import assert_books_whole, make_users

ROOT = Path(__file__).resolve().parents[2]
TASKS = 50
HOT_USERS = 5


async def _hot_wallets(db: Database, ledger: LedgerService, funds: int) -> list[int]:
    users = await make_users(db, HOT_USERS)
    for user in users:
        await ledger.credit(user, funds, reason="seed")
    return [await ledger.wallet_account(u) for u in users]


async def test_fifty_tasks_of_random_operations(db: Database, backend: str) -> None:
    """50 tasks x N ops: transfers among 5 hot wallets, reused keys, overdrafts, holds.

    SQLite serialises every writer, so it runs 30 ops per task instead of 100 to keep the
    suite fast; PostgreSQL runs the full 100.
    """
    ops = 100 if backend == "postgres" else 30
    ledger = LedgerService(db)
    wallets = await _hot_wallets(db, ledger, 500)
    fees = await ledger.system_account(SystemAccount.FEES)
    start = {w: (await ledger.account(w)).balance for w in [*wallets, fees]}
    net: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()

    async def task(task_id: int) -> None:
        rng = random.Random(task_id)
        last: tuple[int, int, int, str] | None = None  # this task's last keyed transfer
        for n in range(ops):
            debit, credit = rng.sample(wallets, 2)
            roll = rng.random()
            try:
                if roll < 0.15 and last is not None:  # a client retry: same key, same body
                    retried = await ledger.transfer_accounts(last[0], last[1], last[2], key=last[3])
                    assert retried.replayed
                    outcomes["replayed"] += 1
                    continue
                if roll < 0.2 and last is not None:  # the same key with another body
                    await ledger.transfer_accounts(last[0], last[1], last[2] + 1, key=last[3])
                    raise AssertionError("a reused key with another body went through")
                if roll < 0.3:  # an overdraft attempt
                    await ledger.transfer_accounts(debit, credit, 10_000)
                    raise AssertionError("an overdraft went through")
                if roll < 0.4:  # hold then post or void
                    hold = await ledger.hold(debit, fees, 5, expires_in=timedelta(minutes=5))
                    if rng.random() < 0.5:
                        await ledger.post(hold.id)
                        net[debit] -= 5
                        net[fees] += 5
                    else:
                        await ledger.void(hold.id)
                    outcomes["hold"] += 1
                    continue
                amount = rng.randint(1, 60)
                key = f"t{task_id}-{n}"
                result = await ledger.transfer_accounts(debit, credit, amount, key=key)
                assert not result.replayed
                last = (debit, credit, amount, key)
                net[debit] -= amount
                net[credit] += amount
                outcomes["moved"] += 1
            except InsufficientFunds:
                outcomes["refused"] += 1
            except Conflict:
                outcomes["conflict"] += 1

    await asyncio.gather(*(task(i) for i in range(TASKS)))
    for account, before in start.items():
        assert (await ledger.account(account)).balance == before + net[account], account
    assert outcomes["moved"] > TASKS * ops // 3
    assert min(outcomes["refused"], outcomes["replayed"], outcomes["conflict"]) > 0, outcomes
    await assert_books_whole(db)


async def test_several_processes_on_one_database(
    db: Database, database_url: str, backend: str
) -> None:
    ledger = LedgerService(db)
    wallets = await _hot_wallets(db, ledger, 300)
    start = {w: (await ledger.account(w)).balance for w in wallets}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    ops = "80" if backend == "postgres" else "40"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.ledger_worker",
            database_url,
            str(seed),
            ops,
            *map(str, wallets),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for seed in range(3)
    ]
    net: Counter[int] = Counter()
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
        assert proc.returncode == 0, err.decode()
        report = json.loads(out.decode().strip().splitlines()[-1])
        net.update({int(k): v for k, v in report["net"].items()})
    assert sum(abs(v) for v in net.values()) > 0
    for account, before in start.items():
        assert (await ledger.account(account)).balance == before + net[account]
    await assert_books_whole(db)


async def test_twins_racing_one_key_make_one_transfer(db: Database) -> None:
    """Two services (two connections on PostgreSQL) send the same keys at the same moment,
    each batched with a transfer of its own: every key moves money once, both callers get
    the same transfer, and the companions sent beside the loser are neither lost nor doubled
    when its batch is sent again."""
    first, second = LedgerService(db), LedgerService(db)
    a, b, c, *_ = await _hot_wallets(db, first, 1_000)
    start = {w: (await first.account(w)).balance for w in (a, b, c)}
    rounds = 25

    async def race(n: int) -> None:
        key = f"twin-{n}"
        one, two, _, _ = await asyncio.gather(
            first.transfer_accounts(a, b, 3, key=key),
            second.transfer_accounts(a, b, 3, key=key),
            first.transfer_accounts(c, b, 1, key=f"first-{n}"),
            second.transfer_accounts(c, a, 2, key=f"second-{n}"),
        )
        assert one.id == two.id
        assert sorted([one.replayed, two.replayed]) == [False, True]

    for n in range(rounds):
        await race(n)
    assert (await first.account(a)).balance == start[a] - rounds * 3 + rounds * 2
    assert (await first.account(b)).balance == start[b] + rounds * 3 + rounds * 1
    assert (await first.account(c)).balance == start[c] - rounds * 1 - rounds * 2
    await assert_books_whole(db)
