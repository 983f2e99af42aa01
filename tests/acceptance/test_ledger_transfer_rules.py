"""Who may pay whom over HTTP: never across a block, never into a system account."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.exceptions import InvalidInput, PermissionDenied
from stratabase.ledger.service import LedgerService
from stratabase.ledger.values import SystemAccount
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _funded(api: Api, admin: Actor, amount: int = 100) -> Actor:
    user = await api.user()
    minted = await api.http.post(
        "/v1/wallet/credits",
        json={"user_id": user.id, "amount": amount, "reason": "welcome"},
        headers={**admin.headers, "Idempotency-Key": f"mint-for-{user.id}"},
    )
    assert minted.status_code == 201, minted.text
    return user


async def _balance(api: Api, user: Actor) -> int:
    wallet = (await api.http.get("/v1/wallet", headers=user.headers)).json()
    return int(wallet["balance"])


async def test_no_transfer_across_a_block_either_way(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    alice, bob = await _funded(api, admin), await _funded(api, admin)
    bob_wallet = (await api.http.get("/v1/wallet", headers=bob.headers)).json()["id"]
    blocked = await api.http.post(f"/v1/users/{alice.id}/block", headers=bob.headers)
    assert blocked.status_code == 200, blocked.text

    for sender, body in (
        (alice, {"to_user_id": bob.id}),  # the blocked user pays the blocker
        (alice, {"to_account_id": bob_wallet}),  # ... naming the wallet instead
        (bob, {"to_user_id": alice.id}),  # the blocker pays the blocked user
    ):
        response = await api.http.post(
            "/v1/wallet/transfers",
            json={**body, "amount": 5, "reason": "see this"},
            headers={**sender.headers, "Idempotency-Key": f"across-{sender.id}-{len(body)}"},
        )
        problem = assert_problem(response, 403)
        assert problem["type"].endswith("/permission-denied")
    assert (await _balance(api, alice), await _balance(api, bob)) == (100, 100)

    unblocked = await api.http.delete(f"/v1/users/{alice.id}/block", headers=bob.headers)
    assert unblocked.status_code == 200
    sent = await api.http.post(
        "/v1/wallet/transfers",
        json={"to_user_id": bob.id, "amount": 5, "reason": "thanks"},
        headers={**alice.headers, "Idempotency-Key": "after-unblock"},
    )
    assert sent.status_code == 201, sent.text


async def test_to_account_id_must_be_another_users_wallet(api: Api, db: Database) -> None:
    admin = await api.user(role=Role.ADMIN)
    alice, bob = await _funded(api, admin), await _funded(api, admin)
    ledger = LedgerService(db)
    treasury = await ledger.system_account(SystemAccount.TREASURY)
    fees = await ledger.system_account(SystemAccount.FEES)
    own = await ledger.wallet_account(alice.id)
    bob_wallet = await ledger.wallet_account(bob.id)

    async def send(account_id: int, key: str) -> httpx.Response:
        return await api.http.post(
            "/v1/wallet/transfers",
            json={"to_account_id": account_id, "amount": 5, "reason": "r"},
            headers={**alice.headers, "Idempotency-Key": key},
        )

    for account_id, status in ((treasury, 422), (fees, 422), (own, 422), (10**12, 404)):
        problem = assert_problem(await send(account_id, f"account-{account_id}"), status)
        assert problem["errors"][0]["field"] == "to_account_id"
    assert await _balance(api, alice) == 100
    assert (await ledger.account(treasury)).balance == -200

    paid = await send(bob_wallet, "account-bob")
    assert paid.status_code == 201, paid.text
    assert (await _balance(api, alice), await _balance(api, bob)) == (95, 105)


async def test_the_library_path_keeps_the_same_rules(api: Api, db: Database) -> None:
    admin = await api.user(role=Role.ADMIN)
    alice, bob = await _funded(api, admin), await _funded(api, admin)
    assert (await api.http.post(f"/v1/users/{bob.id}/block", headers=alice.headers)).is_success
    ledger = LedgerService(db)
    with pytest.raises(PermissionDenied):
        await ledger.transfer(alice.id, bob.id, 1, reason="r")
    with pytest.raises(PermissionDenied):
        await ledger.transfer(bob.id, alice.id, 1, reason="r")
    with pytest.raises(InvalidInput):
        await ledger.transfer_to_account(
            alice.id, await ledger.system_account(SystemAccount.TREASURY), 1, reason="r"
        )


async def test_a_retry_after_a_block_still_gets_its_first_answer(api: Api) -> None:
    """The key is bound to its outcome: a block that came since refuses new transfers, not
    the replay of one already made."""
    admin = await api.user(role=Role.ADMIN)
    alice, bob = await _funded(api, admin), await _funded(api, admin)
    body = {"to_user_id": bob.id, "amount": 5, "reason": "before the block"}
    headers = {**alice.headers, "Idempotency-Key": "paid-before-block"}
    first = await api.http.post("/v1/wallet/transfers", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (await api.http.post(f"/v1/users/{alice.id}/block", headers=bob.headers)).is_success
    retry = await api.http.post("/v1/wallet/transfers", json=body, headers=headers)
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    fresh = await api.http.post(
        "/v1/wallet/transfers",
        json=body,
        headers={**alice.headers, "Idempotency-Key": "paid-after-block"},
    )
    assert_problem(fresh, 403)
    assert (await _balance(api, alice), await _balance(api, bob)) == (95, 105)
