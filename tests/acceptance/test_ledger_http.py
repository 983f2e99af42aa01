"""The wallet and payments endpoints as a client sees them, problem+json included."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from stratabase.db.session import Database
from stratabase.enums import PaymentProvider, Role
from stratabase.ledger.webhooks import adapters
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _mint(api: Api, admin: Actor, user: Actor, amount: int, key: str) -> None:
    minted = await api.http.post(
        "/v1/wallet/credits",
        json={"user_id": user.id, "amount": amount, "reason": "welcome"},
        headers={**admin.headers, "Idempotency-Key": key},
    )
    assert minted.status_code == 201, minted.text


async def test_wallet_transfer_history(api: Api) -> None:
    admin, alice, bob = await api.user(role=Role.ADMIN), await api.user(), await api.user()
    await _mint(api, admin, alice, 100, "mint-0001")
    send = {
        "to_user_id": bob.id,
        "amount": 30,
        "reason": "tip",
        "reference_type": "post",
        "reference_id": 7,
    }
    headers = {**alice.headers, "Idempotency-Key": "tip-000001"}
    first = await api.http.post("/v1/wallet/transfers", json=send, headers=headers)
    assert first.status_code == 201, first.text
    retry = await api.http.post("/v1/wallet/transfers", json=send, headers=headers)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    other = await api.http.post(
        "/v1/wallet/transfers", json={**send, "amount": 31}, headers=headers
    )
    assert assert_problem(other, 409)["type"].endswith("/conflict")
    broke = await api.http.post(
        "/v1/wallet/transfers",
        json={**send, "amount": 71},
        headers={**alice.headers, "Idempotency-Key": "tip-000002"},
    )
    assert assert_problem(broke, 409)["type"].endswith("/insufficient-funds")
    no_key = await api.http.post("/v1/wallet/transfers", json=send, headers=alice.headers)
    assert_problem(no_key, 422)
    float_amount = await api.http.post(
        "/v1/wallet/transfers",
        json={**send, "amount": 1.5},
        headers={**alice.headers, "Idempotency-Key": "tip-000003"},
    )
    assert_problem(float_amount, 422)

    wallet = (await api.http.get("/v1/wallet", headers=alice.headers)).json()
    assert (wallet["balance"], wallet["available"], wallet["spent_total"]) == (70, 70, 30)
    page = (await api.http.get("/v1/wallet/transactions?limit=1", headers=alice.headers)).json()
    assert [item["amount"] for item in page["items"]] == [-30] and page["has_more"]
    older = await api.http.get(
        f"/v1/wallet/transactions?limit=1&cursor={page['next_cursor']}", headers=alice.headers
    )
    assert [item["amount"] for item in older.json()["items"]] == [100]
    tampered = await api.http.get(
        f"/v1/wallet/transactions?cursor={page['next_cursor']}x", headers=alice.headers
    )
    assert_problem(tampered, 422)
    assert_problem(await api.http.get("/v1/wallet"), 401)


async def test_only_admins_mint(api: Api) -> None:
    alice = await api.user()
    response = await api.http.post(
        "/v1/wallet/credits",
        json={"user_id": alice.id, "amount": 5, "reason": "me"},
        headers={**alice.headers, "Idempotency-Key": "self-mint-1"},
    )
    assert_problem(response, 403)
    assert (await api.http.get("/v1/wallet", headers=alice.headers)).json()["balance"] == 0


async def test_payment_intent_then_signed_webhook(api: Api, settings: Settings) -> None:
    buyer = await api.user()
    created = await api.http.post(
        "/v1/payments", json={"provider": "stripe", "amount": 250}, headers=buyer.headers
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    body = json.dumps(
        {
            "id": "evt_http_1",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": payment["external_id"]}},
        }
    ).encode()
    signer = adapters(settings.secret_key.get_secret_value())[PaymentProvider.STRIPE]
    forged = adapters("wrong")[PaymentProvider.STRIPE].sign(body)
    refused = await api.http.post("/v1/payments/webhooks/stripe", content=body, headers=forged)
    assert_problem(refused, 403)
    for expected in ("processed", "duplicate"):
        delivered = await api.http.post(
            "/v1/payments/webhooks/stripe", content=body, headers=signer.sign(body)
        )
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["status"] == expected
    assert (await api.http.get("/v1/wallet", headers=buyer.headers)).json()["balance"] == 250
    shown = await api.http.get(f"/v1/payments/{payment['id']}", headers=buyer.headers)
    assert shown.json()["status"] == "succeeded"
    stranger = await api.user()
    assert_problem(
        await api.http.get(f"/v1/payments/{payment['id']}", headers=stranger.headers), 404
    )
    assert_problem(await api.http.post("/v1/payments/webhooks/venmo", content=body), 404)
