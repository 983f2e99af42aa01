"""``stratabase ledger …`` as an operator runs it: in a subprocess, on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.ledger.service import LedgerService
from stratabase.models.ledger import LedgerAccount, LedgerEntry, LedgerTransfer
from tests.integration.ledger_helpers import make_users


def _stratabase(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = database_url
    env["STRATABASE_SLOW_QUERY_MS"] = "60000"  # keep stderr to the one line we check
    env["STRATABASE_WARN_QUERY_MS"] = "60000"
    return subprocess.run(
        [sys.executable, "-m", "stratabase", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _books(db: Database) -> tuple[int, int]:
    ledger = LedgerService(db)
    alice, bob = await make_users(db, 2)
    await ledger.credit(alice, 100, reason="seed")
    await ledger.transfer(alice, bob, 30, reason="tip")
    return await ledger.wallet_account(alice), await ledger.wallet_account(bob)


async def test_expire_holds_then_verify_passes(db: Database, database_url: str) -> None:
    alice_wallet, bob_wallet = await _books(db)
    ledger = LedgerService(db)
    hold = await ledger.hold(alice_wallet, bob_wallet, 50, reason="pending generation")

    async def backdate(session):  # type: ignore[no-untyped-def]
        await session.execute(
            update(LedgerTransfer)
            .where(LedgerTransfer.id == hold.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )

    await db.transaction(backdate)
    expired = _stratabase(database_url, "expire-holds")
    assert expired.returncode == 0, expired.stderr
    assert "expired 1 hold(s)" in expired.stdout
    assert (await ledger.account(alice_wallet)).pending == 0
    result = _stratabase(database_url, "verify")
    assert result.returncode == 0, result.stderr
    assert "ledger ok: 3 accounts, 3 transfers, 4 entries" in result.stdout


async def test_verify_names_corrupted_rows(db: Database, database_url: str) -> None:
    alice_wallet, bob_wallet = await _books(db)

    async def corrupt(session):  # type: ignore[no-untyped-def]
        await session.execute(
            update(LedgerAccount).where(LedgerAccount.id == alice_wallet).values(balance=71)
        )
        await session.execute(
            update(LedgerEntry).where(LedgerEntry.account_id == bob_wallet).values(balance_after=31)
        )

    await db.transaction(corrupt)
    result = _stratabase(database_url, "verify", "--json")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"account {alice_wallet}: balance is 71 but its entries sum to 70" in lines[0]
    violations = json.loads(result.stdout)["violations"]
    assert f"of account {bob_wallet}: balance_after is 31, the running sum is 30" in " ".join(
        violations
    )


async def test_mint_and_balance_commands(db: Database, database_url: str) -> None:
    (user,) = await make_users(db, 1)
    minted = _stratabase(
        database_url, "mint", "--user", str(user), "--amount", "25", "--reason", "support"
    )
    assert minted.returncode == 0, minted.stderr
    assert (await LedgerService(db).wallet(user)).balance == 25
    shown = _stratabase(database_url, "balance", "--user", "999999")
    assert shown.returncode == 1
    assert "user 999999 does not exist" in shown.stderr and "Traceback" not in shown.stderr
