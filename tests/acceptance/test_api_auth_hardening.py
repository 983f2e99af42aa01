"""Sign-in hardening over HTTP: malformed ``Authorization`` headers are 401 (never anonymous),
every failed sign-in costs one argon2 check at the current parameters (so timing does not
list accounts), outdated hashes are upgraded at sign-in, and weak new passwords are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters

from stratabase.db.session import Database
from stratabase.seed.people import DEMO_LOGINS, SEED_HASH_COST
from stratabase.seed.people import password_hash as seed_hash
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api
from tests.acceptance.auth_support import (
    account,
    parameters_of,
    record_verifies,
    stored_hash,
    use_hasher,
)

PASSWORD = "correct horse battery"


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


# --- item: a malformed Authorization header is 401, not anonymous ------------------------

MALFORMED = [
    "Basic dXNlcjpwYXNz",
    "Basic x",
    "Token abc",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "",
    "Bearer two words",
    "Bearertoken",
    "Bearer tok@en",
    "Bearer " + "x" * 5000,
]


@pytest.mark.parametrize("path", ["/v1/posts", "/v1/me"])
async def test_malformed_authorization_is_401_on_public_and_protected_routes(
    api: Api, path: str
) -> None:
    for header in MALFORMED:
        response = await api.http.get(path, headers={"Authorization": header})
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", header
        assert "Bearer" in body["detail"] or "token" in body["detail"], body
    # Two Authorization headers, even if one is valid, are refused too.
    user = await api.user()
    twice = httpx.Headers([("Authorization", f"Bearer {user.token}"), ("Authorization", "x")])
    assert_problem(await api.http.get(path, headers=twice), 401)


async def test_well_formed_bearer_headers_still_work(api: Api) -> None:
    user = await api.user()
    assert (await api.http.get("/v1/posts")).status_code == 200  # no header: anonymous
    for header in (f"Bearer {user.token}", f"bearer {user.token}", f"BEARER   {user.token}"):
        response = await api.http.get("/v1/me", headers={"Authorization": header})
        assert response.status_code == 200, (header, response.text)
        public = await api.http.get("/v1/posts", headers={"Authorization": header})
        assert public.status_code == 200


# --- item: sign-in costs the same whether the account exists or not ----------------------


async def test_every_failed_sign_in_costs_one_current_parameter_verify(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = parameters_of(use_hasher(monkeypatch))
    legacy = await account(db, seed_hash("legacy password 1", 5))  # seed's lighter cost
    modern = await account(db, PasswordHasher(**_cost(current)).hash("modern password 1"))
    no_password = await account(db, None)
    for email in (legacy, modern, no_password, "nobody@example.com"):
        seen = record_verifies(monkeypatch)
        response = await api.http.post(
            "/v1/auth/login", json={"email": email, "password": "wrong password"}
        )
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert [p for p in seen if p == current] == [current], (email, seen)
        # Besides it, at most the (lighter) check of the stored hash itself.
        assert len(seen) == (2 if email == legacy else 1), (email, seen)


async def test_sign_in_upgrades_an_outdated_hash(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = parameters_of(use_hasher(monkeypatch))
    email = await account(db, seed_hash("legacy password 2", 5))
    before = await stored_hash(db, email)
    assert before is not None and extract_parameters(before) != current
    login = {"email": email, "password": "legacy password 2"}
    assert (await api.http.post("/v1/auth/login", json=login)).status_code == 200
    after = await stored_hash(db, email)
    assert after is not None and extract_parameters(after) == current
    seen = record_verifies(monkeypatch)
    assert (await api.http.post("/v1/auth/login", json=login)).status_code == 200
    assert seen == [current]  # one verify, no padding: the hash is current now
    assert await stored_hash(db, email) == after  # and it is not rehashed again


async def test_seeded_demo_login_works_and_is_upgraded_to_production_cost(
    api: Api, db: Database
) -> None:
    """The README's demo logins (light seed hashes) sign in, then hold a production hash."""
    email, _username, _name, password = DEMO_LOGINS[0]
    await account(db, seed_hash(password, 42), email=email)
    response = await api.http.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    upgraded = await stored_hash(db, email)
    assert upgraded is not None
    assert extract_parameters(upgraded) == parameters_of(PasswordHasher())
    assert extract_parameters(seed_hash(password, 42)).time_cost == SEED_HASH_COST["time_cost"]


def _cost(parameters: object) -> dict[str, int]:
    return {name: getattr(parameters, name) for name in ("time_cost", "memory_cost", "parallelism")}


# --- item: weak new passwords are refused ------------------------------------------------

WEAK = {
    "aaaaaaaaaa": "different characters",
    "1234567890": "sequence",
    "          ": "whitespace",
    "abcdefghij": "sequence",
    "0987654321": "sequence",
    "qwertyuiop": "sequence",
    "abcdabcdabcd": "repeated",
    "passwordpassword": "repeated",
    "password123": "common",
    "Iloveyou2024!": "common",
    "manchester": "common",
}


async def test_register_refuses_weak_passwords_with_the_reason(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_hasher(monkeypatch)
    for number, (password, reason) in enumerate(WEAK.items()):
        response = await api.http.post(
            "/v1/auth/register",
            json={
                "email": f"w{number}@example.com",
                "username": f"weak{number}",
                "password": password,
            },
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["field"] == "password", body
        assert reason in body["errors"][0]["message"], (password, body)
        assert not password.strip() or password not in response.text  # never quoted
    personal = await api.http.post(
        "/v1/auth/register",
        json={"email": "ada.lovelace@example.com", "username": "ada", "password": "Ada.Lovelace!"},
    )
    body = assert_problem(personal, 422)
    assert body["errors"][0]["field"] == "password"
    assert "too close to your email" in body["errors"][0]["message"]
    assert "Lovelace!" not in personal.text
    ok = await api.http.post(
        "/v1/auth/register",
        json={"email": "strong@example.com", "username": "strong", "password": PASSWORD},
    )
    assert ok.status_code == 201, ok.text


async def test_sign_in_does_not_apply_the_new_password_policy(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account whose password predates the policy can still sign in with it."""
    hasher = use_hasher(monkeypatch)
    email = await account(db, hasher.hash("1234567890"))
    login = {"email": email, "password": "1234567890"}
    assert (await api.http.post("/v1/auth/login", json=login)).status_code == 200
