"""A separate OS process hammering the ledger: ``python -m tests.integration.ledger_worker``.

Arguments: database URL, seed, number of operations, then the hot account ids. Prints one
JSON line: the net movement per account of every transfer that committed, so the parent can
check the final balances against what actually succeeded.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter

from stratabase.db.session import Database
from stratabase.exceptions import InsufficientFunds
from stratabase.ledger.service import LedgerService
from stratabase.settings import load_settings


async def main(url: str, seed: int, ops: int, hot: list[int]) -> None:
    db = Database(load_settings(database_url=url, pool_max_size=4))
    ledger = LedgerService(db)
    rng = random.Random(seed)
    net: Counter[int] = Counter()
    refused = 0

    async def worker(worker_id: int) -> None:
        nonlocal refused
        for n in range(ops // 4):
            debit, credit = rng.sample(hot, 2)
            amount = rng.randint(1, 40)
            try:
                result = await ledger.transfer_accounts(
                    debit, credit, amount, key=f"p{seed}-{worker_id}-{n}"
                )
            except InsufficientFunds:
                refused += 1
                continue
            if not result.replayed:
                net[debit] -= amount
                net[credit] += amount

    try:
        await asyncio.gather(*(worker(i) for i in range(4)))
    finally:
        await db.dispose()
    print(json.dumps({"net": {str(k): v for k, v in net.items()}, "refused": refused}))


if __name__ == "__main__":
    url, seed, ops, *hot = sys.argv[1:]
    asyncio.run(main(url, int(seed), int(ops), [int(h) for h in hot]))
