"""The composition root: library use, the services' rules, and in-process job wake-ups."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import stratabase
from stratabase.app import Stratabase
from stratabase.auth.principal import Principal
from stratabase.enums import JobStatus, PaymentStatus, Role, UserStatus
from stratabase.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from stratabase.jobs.registry import Registry, TaskContext, TaskSpec
from stratabase.jobs.worker import Worker, WorkerConfig
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings
from tests.integration.ledger_helpers import assert_books_whole, make_users


def _user(user_id: int, role: Role = Role.USER) -> Principal:
    return Principal(user_id, role, UserStatus.ACTIVE)


async def test_library_use_transfers_and_reads(settings: Settings) -> None:
    """``async with Stratabase(settings)``: everything built, opened and closed by one object."""
    assert stratabase.Stratabase is Stratabase and stratabase.Settings is Settings
    async with Stratabase(settings) as sb:
        alice, bob = await make_users(sb.db, 2)
        await sb.ledger.credit(alice, 100, reason="welcome")
        sent = await sb.ledger.send(_user(alice), 30, key="lib-1", to_user_id=bob, reason="gift")
        assert (await sb.ledger.wallet(alice)).balance == 70
        assert (await sb.ledger.wallet(bob)).balance == 30
        history = await sb.ledger.history(bob, limit=10)
        assert [item.transfer_id for item in history.items] == [sent.id]
        await assert_books_whole(sb.db)
    # Closed: the owned pool is gone, and a new root on the same settings sees the same data.
    async with Stratabase(settings) as again:
        assert (await again.ledger.wallet(bob)).balance == 30


async def test_idempotency_keys_are_scoped_per_sender(settings: Settings) -> None:
    async with Stratabase(settings) as sb:
        alice, bob, carol = await make_users(sb.db, 3)
        for user in (alice, bob):
            await sb.ledger.credit(user, 50, reason="seed")
        first = await sb.ledger.send(_user(alice), 5, key="same-key", to_user_id=carol)
        # Bob's identical key is his own: a second transfer, not a replay of Alice's.
        other = await sb.ledger.send(_user(bob), 5, key="same-key", to_user_id=carol)
        assert other.id != first.id and not other.replayed
        replay = await sb.ledger.send(_user(alice), 5, key="same-key", to_user_id=carol)
        assert replay.id == first.id and replay.replayed
        wallet_id = (await sb.ledger.wallet(carol)).id
        to_wallet = await sb.ledger.send(_user(alice), 1, key="k-acct", to_account_id=wallet_id)
        assert to_wallet.credit_account_id == wallet_id
        with pytest.raises(InvalidInput):
            await sb.ledger.send(_user(alice), 1, key="k-none")
        with pytest.raises(PermissionDenied):
            await sb.ledger.mint(_user(alice), alice, 1, key="k-mint", reason="no")
        minted = await sb.ledger.mint(_user(bob, Role.ADMIN), alice, 7, key="m1", reason="r")
        assert minted.metadata["minted_by"] == bob
        assert (await sb.ledger.wallet(carol)).balance == 11


async def test_payments_are_read_by_their_owner_or_an_admin(settings: Settings) -> None:
    async with Stratabase(settings) as sb:
        owner, stranger = await make_users(sb.db, 2)
        created = await sb.payments.create_intent(_user(owner), "stripe", 500)
        found = await sb.payments.get_for(_user(owner), created.id)
        assert found == created and found.status is PaymentStatus.PENDING
        assert (await sb.payments.get_for(_user(stranger, Role.ADMIN), created.id)) == created
        with pytest.raises(NotFound):
            await sb.payments.get_for(_user(stranger), created.id)


async def test_job_state_machine_lives_in_the_service(settings: Settings) -> None:
    async with Stratabase(settings) as sb:
        (admin_id,) = await make_users(sb.db, 1)
        admin = _user(admin_id, Role.ADMIN)
        with pytest.raises(PermissionDenied):
            await sb.jobs.submit(_user(admin_id), JobCreate(task="noop"))
        job = await sb.jobs.submit(admin, JobCreate(task="noop", unique_key="u"))
        assert job.status == JobStatus.QUEUED
        with pytest.raises(Conflict):
            await sb.jobs.retry_job(admin, job.id)
        assert (await sb.jobs.cancel_job(admin, job.id)).status == JobStatus.CANCELLED
        with pytest.raises(Conflict):
            await sb.jobs.cancel_job(admin, job.id)
        assert (await sb.jobs.retry_job(None, job.id)).status == JobStatus.QUEUED
        with pytest.raises(NotFound):
            await sb.jobs.retry_job(admin, 999_999)
        with pytest.raises(NotFound):
            await sb.jobs.cancel_job(admin, 999_999)


async def test_enqueue_wakes_a_worker_on_the_same_root_at_once(settings: Settings) -> None:
    """No process registry: the wake-up goes through the root's Database. The worker polls
    every 10 minutes, so only the wake-up can run the job within the deadline."""
    ran = asyncio.Event()

    async def ping(_ctx: TaskContext, _payload: dict[str, Any]) -> None:
        ran.set()

    registry = Registry()
    registry.add(TaskSpec("ping", ping))
    slow_poll = WorkerConfig(
        concurrency=1, lease_seconds=30, poll_interval=600, flush_interval=0.01, run_periodic=False
    )
    async with Stratabase(settings, job_registry=registry) as sb:
        worker = Worker(sb.db, sb.settings, registry, slow_poll)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await asyncio.wait_for(worker.ready.wait(), 30)
            for _ in range(2):  # the second arrives while the worker waits out its poll
                ran.clear()
                await sb.jobs.submit(None, JobCreate(task="ping"))
                await asyncio.wait_for(ran.wait(), 30)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)


async def test_create_app_serves_the_roots_services(settings: Settings) -> None:
    """Routes use what the root was given (ledger hooks, rate limits): nothing is built on
    ``app.state`` by a route. The app owns its root: its lifespan opens and closes it."""
    from stratabase.api.app import create_app
    from stratabase.ledger.values import WalletChange
    from tests.acceptance.api_support import NO_LIMITS, Api

    changes: list[WalletChange] = []
    app = create_app(settings, rate_limits=NO_LIMITS, ledger_hooks=[changes.append])
    sb: Stratabase = app.state.stratabase
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            api = Api(http, sb.db)
            admin, user = await api.user(role=Role.ADMIN), await api.user()
            minted = await http.post(
                "/v1/wallet/credits",
                json={"user_id": user.id, "amount": 9, "reason": "hook"},
                headers={**admin.headers, "Idempotency-Key": "root-mint-1"},
            )
            assert minted.status_code == 201, minted.text
            assert [change.kind for change in changes] == ["credit"]
            assert user.id in changes[0].user_ids
            wallet = await http.get("/v1/wallet", headers=user.headers)
            assert wallet.json()["balance"] == 9
    # the studio keeps its timeline beside the root, set when the app is built; no route
    # added anything
    assert set(app.state._state) == {"stratabase", "studio"}


async def test_from_env_reads_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATABASE_DATABASE_URL", settings.database_url)
    async with Stratabase.from_env(redis_url="") as sb:
        assert sb.settings.database_url == settings.database_url
        assert sb.db.backend == settings.backend
        (user,) = await make_users(sb.db, 1)
        assert (await sb.ledger.wallet(user)).balance == 0


async def test_statement_and_job_list_cursors_page_and_are_their_own(settings: Settings) -> None:
    """The cursor rules live in the services: a library caller pages as the API does, and a
    cursor of one list is refused by another (naming ``cursor``)."""
    async with Stratabase(settings) as sb:
        (alice,) = await make_users(sb.db, 1)
        await sb.ledger.credit(alice, 5, reason="first")
        await sb.ledger.credit(alice, 7, reason="second")
        first = await sb.ledger.statement(_user(alice), limit=1)
        assert [item.amount for item in first.items] == [7] and first.has_more
        rest = await sb.ledger.statement(_user(alice), cursor=first.next_cursor, limit=1)
        assert [item.amount for item in rest.items] == [5] and rest.next_cursor is None

        made = [await sb.jobs.submit(None, JobCreate(task="noop")) for _ in range(2)]
        newest = await sb.jobs.list_jobs(None, limit=1)
        assert [job.id for job in newest.items] == [made[1].id] and newest.next_cursor
        older = await sb.jobs.list_jobs(None, cursor=newest.next_cursor, limit=1)
        assert [job.id for job in older.items] == [made[0].id] and not older.has_more

        with pytest.raises(InvalidInput) as wrong_list:
            await sb.ledger.statement(_user(alice), cursor=newest.next_cursor)
        assert wrong_list.value.field == "cursor"
        with pytest.raises(InvalidInput) as wrong_list:
            await sb.jobs.list_jobs(None, cursor=first.next_cursor)
        assert wrong_list.value.field == "cursor"
        with pytest.raises(PermissionDenied):
            await sb.jobs.list_jobs(_user(alice))
