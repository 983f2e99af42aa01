"""Wallet movements reach the ``me`` subscribers of both parties exactly once, on both
backends: on PostgreSQL through the batched path (``sb_ledger_transfers_announced``,
migration 0011), on SQLite through the ORM session's outbox. A refused transfer emits
nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from stratabase.auth.principal import Principal
from stratabase.changes import ChangeFeed, Topics
from stratabase.changes.outbox import Change
from stratabase.db.session import Database
from stratabase.enums import Role, UserStatus
from stratabase.exceptions import InsufficientFunds
from stratabase.ledger.service import LedgerService
from stratabase.settings import Settings
from tests.integration.changes_support import committed, take
from tests.integration.ledger_helpers import make_users


def _principal(user_id: int) -> Principal:
    return Principal(user_id, Role.USER, UserStatus.ACTIVE)


@pytest.fixture
async def feed(settings: Settings, db: Database) -> ChangeFeed:
    feed = ChangeFeed(db, settings)
    yield feed  # type: ignore[misc]
    await feed.stop()


async def test_concurrent_transfers_reach_both_parties_once(db: Database, feed: ChangeFeed) -> None:
    alice, bob, carol = await make_users(db, 3)
    ledger = LedgerService(db)
    await ledger.credit(alice, 1_000, reason="funds")
    await ledger.credit(bob, 1_000, reason="funds")
    topics = {user: Topics.parse("me", _principal(user)) for user in (alice, bob, carol)}
    async with (
        feed.subscribe(topics[alice]) as to_alice,
        feed.subscribe(topics[bob]) as to_bob,
        feed.subscribe(topics[carol]) as to_carol,
    ):
        # Concurrent calls: on PostgreSQL they go out together in batches.
        pairs = [(alice, bob) if n % 2 else (bob, alice) for n in range(20)]
        transfers = await asyncio.gather(
            *(ledger.transfer(src, dst, 1 + n, reason="gift") for n, (src, dst) in enumerate(pairs))
        )
        with pytest.raises(InsufficientFunds):
            await ledger.transfer(carol, alice, 5, reason="refused: carol has nothing")
        feed.wake()
        live_alice = await take(to_alice, 20)
        live_bob = await take(to_bob, 20)
        assert to_carol.position >= 0 and await to_carol.next(timeout=0) is None

    ids = sorted(t.id for t in transfers)
    for live in (live_alice, live_bob):
        assert all(isinstance(e, Change) and e.type == "wallet.transfer" for e in live)
        assert sorted(e.payload["transfer_ids"][0] for e in live) == ids  # each once
        assert [e.id for e in live] == sorted(e.id for e in live)

    # The outbox holds exactly these: funding (one event each), two per transfer, no
    # event for the refused one; carol's `me` has nothing.
    events = await committed(db)
    assert Counter((e.topic, e.type) for e in events) == {
        (f"me:{alice}", "wallet.credit"): 1,
        (f"me:{bob}", "wallet.credit"): 1,
        (f"me:{alice}", "wallet.transfer"): 20,
        (f"me:{bob}", "wallet.transfer"): 20,
    }
    funding = next(e for e in events if e.type == "wallet.credit")
    assert set(funding.payload) == {"kind", "transfer_ids"} and funding.payload["kind"] == "credit"
    replayed = await feed.page(topics[alice], after=0, limit=100)
    assert [e.id for e in replayed.events] == [e.id for e in events if e.topic == f"me:{alice}"]
    assert (await feed.page(topics[carol], after=0, limit=100)).events == []


async def test_a_replayed_transfer_emits_nothing_more(db: Database) -> None:
    alice, bob = await make_users(db, 2)
    ledger = LedgerService(db)
    await ledger.credit(alice, 100, reason="funds")
    first = await ledger.transfer(alice, bob, 10, reason="once", key="gift-once")
    again = await ledger.transfer(alice, bob, 10, reason="once", key="gift-once")
    assert again.id == first.id
    mine = [e for e in await committed(db) if e.type == "wallet.transfer"]
    assert sorted(e.topic for e in mine) == sorted([f"me:{alice}", f"me:{bob}"])
