"""Out-of-range ids, over-long strings and oversized JSON get a 422 naming the field, on
both backends: never a 500 from the driver, never stored by one backend and refused by the
other."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.enums import PaymentProvider, Role
from stratabase.ledger.webhooks import adapters
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api

TOO_BIG = 2**63


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


def _fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors") or []}


async def test_ids_past_bigint_are_refused_in_bodies_paths_and_queries(api: Api) -> None:
    admin, author = await api.user(role=Role.ADMIN), await api.user()
    post = await api.post(author)
    key = {"Idempotency-Key": "bounds-0001"}
    bodies: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
        (f"/v1/posts/{post['id']}/comments", {"body": "x", "parent_id": TOO_BIG}, {}, "parent_id"),
        ("/v1/posts", {"kind": "article", "title": "t", "category_id": TOO_BIG}, {}, "category_id"),
        (
            "/v1/wallet/transfers",
            {"to_user_id": TOO_BIG, "amount": 1, "reason": "r"},
            key,
            "to_user_id",
        ),
        (
            "/v1/wallet/transfers",
            {"to_account_id": TOO_BIG, "amount": 1, "reason": "r"},
            key,
            "to_account_id",
        ),
        ("/v1/wallet/credits", {"user_id": TOO_BIG, "amount": 1, "reason": "r"}, key, "user_id"),
    ]
    for path, body, extra, field in bodies:
        sender = admin if path.endswith("credits") else author
        response = await api.http.post(path, json=body, headers={**sender.headers, **extra})
        assert field in _fields(assert_problem(response, 422)), (path, response.text)
    patched = await api.http.patch(
        f"/v1/posts/{post['id']}", json={"category_id": TOO_BIG}, headers=author.headers
    )
    assert "category_id" in _fields(assert_problem(patched, 422))
    for url in (
        f"/v1/posts/{2**64}",
        "/v1/posts/-1",
        "/v1/posts/0",
        f"/v1/users/{TOO_BIG}",
        f"/v1/posts?ids={TOO_BIG}",
        f"/v1/posts?category={TOO_BIG}",
        f"/v1/jobs?limit={TOO_BIG}",
    ):
        assert_problem(await api.http.get(url, headers=admin.headers), 422)


async def test_metadata_over_its_cap_is_a_422_naming_it(api: Api) -> None:
    author = await api.user()
    big = {"blob": "x" * 20_000}
    response = await api.http.post(
        "/v1/posts",
        json={"kind": "article", "title": "t", "metadata": big},
        headers=author.headers,
    )
    assert "metadata" in _fields(assert_problem(response, 422))
    paid = await api.http.post(
        "/v1/payments",
        json={"provider": "stripe", "amount": 5, "metadata": big},
        headers=author.headers,
    )
    assert "metadata" in _fields(assert_problem(paid, 422))


async def test_webhook_fields_longer_than_their_columns_are_refused_alike(
    api: Api, settings: Settings
) -> None:
    """A 201-character event id was a 500 on PostgreSQL and "ignored" on SQLite."""
    signer = adapters(settings.secret_key.get_secret_value())[PaymentProvider.STRIPE]
    for event, field in (
        ({"id": "e" * 201, "type": "payment_intent.succeeded"}, "event_id"),
        ({"id": "evt_1", "type": "t" * 61}, "event_type"),
        ({"id": "evt_2", "type": "payment_intent.succeeded", "object": "p" * 201}, "external_id"),
    ):
        payload = {
            "id": event["id"],
            "type": event["type"],
            "data": {"object": {"id": event.get("object", "pi_x")}},
        }
        body = json.dumps(payload).encode()
        response = await api.http.post(
            "/v1/payments/webhooks/stripe", content=body, headers=signer.sign(body)
        )
        assert field in _fields(assert_problem(response, 422)), response.text
