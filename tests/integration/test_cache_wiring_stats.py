"""Platform stats and user search go through the cache: a stats hit issues no statement,
every kind of API write that changes a count shows in the very next read, and sign-ups and
account status changes show in user search at once. Each case runs on both database
backends, with the in-process cache and with two tiers over Redis."""

from __future__ import annotations

from typing import Any

import httpx

from stratabase.auth import service as auth
from stratabase.cache import SmartCache
from stratabase.content.platform import load_platform_stats
from stratabase.enums import Role, UserStatus
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, count_queries

PASSWORD = "correct horse battery staple"


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.status_code != 204 else {}  # type: ignore[no-any-return]


async def _stats(api: Api) -> tuple[dict[str, int], int]:
    with api.db.monitor.count() as counter:
        response = await api.http.get("/v1/stats")
    assert response.status_code == 200, response.text
    return response.json(), count_queries(counter.sql)


class _Expect:
    """The counts the API must show: the last read plus the deltas of the writes since."""

    def __init__(self, api: Api, counts: dict[str, int]) -> None:
        self.api = api
        self.counts = dict(counts)

    async def check(self, **deltas: int) -> None:
        for name, delta in deltas.items():
            self.counts[name] += delta
        shown, cost = await _stats(self.api)
        assert shown == self.counts
        assert shown == await load_platform_stats(self.api.db)  # the database agrees
        again, hit_cost = await _stats(self.api)
        assert again == shown
        assert hit_cost == 0, "a stats hit must not touch the database"
        assert cost >= hit_cost


async def _register(api: Api, username: str, name: str) -> tuple[int, dict[str, str]]:
    body = await _ok(
        await api.http.post(
            "/v1/auth/register",
            json={
                "email": f"{username}@example.com",
                "username": username,
                "name": name,
                "password": PASSWORD,
            },
        )
    )
    return body["user"]["id"], {"Authorization": f"Bearer {body['token']}"}


async def test_stats_hit_is_free_and_every_counted_write_shows_at_once(
    api: Api, wired: tuple[Settings, SmartCache]
) -> None:
    author, fan = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    first, miss_cost = await _stats(api)
    assert miss_cost >= 1
    assert set(first) == {"users", "posts", "comments", "likes", "follows"}
    expect = _Expect(api, first)
    await expect.check()

    await api.user()  # inserted behind the API: the cached counts stay until a write
    assert (await _stats(api))[0] == expect.counts
    await _register(api, "stats_signup", "Stats Signup")
    await expect.check(users=2)

    post = await api.post(author, title="Counted")
    await expect.check(posts=1)
    draft = await api.post(author, title="Draft", status="draft")
    await expect.check()
    draft_url = f"/v1/posts/{draft['id']}"
    await _ok(await api.http.post(draft_url + "/publish", headers=author.headers))
    await expect.check(posts=1)
    await _ok(await api.http.post(draft_url + "/archive", headers=author.headers))
    await expect.check(posts=-1)
    await _ok(await api.http.patch(draft_url, json={"status": "published"}, headers=author.headers))
    await expect.check(posts=1)
    await _ok(await api.http.post(draft_url + "/hide", headers=moderator.headers))
    await expect.check(posts=-1)

    url = f"/v1/posts/{post['id']}"
    comment = await api.comment(fan, post["id"])
    await expect.check(comments=1)
    await _ok(await api.http.post(url + "/like", headers=fan.headers))
    await expect.check(likes=1)
    await _ok(await api.http.post(url + "/like", headers=fan.headers))  # already liked
    await expect.check()
    comment_url = f"/v1/comments/{comment['id']}"
    await _ok(await api.http.post(comment_url + "/like", headers=author.headers))
    await expect.check(likes=1)
    await _ok(await api.http.delete(url + "/like", headers=fan.headers))
    await expect.check(likes=-1)
    await _ok(await api.http.delete(comment_url, headers=fan.headers))
    await expect.check(comments=-1)

    await _ok(await api.http.post(f"/v1/users/{author.id}/follow", headers=fan.headers))
    await expect.check(follows=1)
    await _ok(await api.http.delete(f"/v1/users/{author.id}/follow", headers=fan.headers))
    await expect.check(follows=-1)
    await _ok(await api.http.post(f"/v1/users/{author.id}/follow", headers=fan.headers))
    await _ok(await api.http.post(f"/v1/users/{fan.id}/follow", headers=author.headers))
    await expect.check(follows=2)
    await _ok(await api.http.post(f"/v1/users/{fan.id}/block", headers=author.headers))
    await expect.check(follows=-2)  # a block ends the follows both ways

    await api.comment(author, post["id"])
    await expect.check(comments=1)
    await _ok(await api.http.delete(url, headers=author.headers))
    await expect.check(posts=-1, comments=-1, likes=-1)  # its comment and the comment like go

    cache = wired[1]
    await auth.set_user_status(api.db, cache, fan.id, UserStatus.SUSPENDED)
    await expect.check()  # suspended accounts still count
    await auth.set_user_status(api.db, cache, fan.id, UserStatus.DELETED)
    await expect.check(users=-1)
    await auth.set_user_status(api.db, cache, fan.id, UserStatus.ACTIVE)
    await expect.check(users=1)


async def _users_found(
    api: Api, q: str, headers: dict[str, str] | None = None
) -> tuple[list[int], int]:
    with api.db.monitor.count() as counter:
        response = await api.http.get(
            "/v1/search", params={"q": q, "type": "users"}, headers=headers or {}
        )
    assert response.status_code == 200, response.text
    return [item["user"]["id"] for item in response.json()["items"]], count_queries(counter.sql)


async def _found(api: Api, q: str, headers: dict[str, str] | None = None) -> list[int]:
    return sorted((await _users_found(api, q, headers))[0])


async def test_user_search_is_cached_and_signups_and_status_changes_show_at_once(
    api: Api, wired: tuple[Settings, SmartCache]
) -> None:
    cache = wired[1]
    viewer: Actor = await api.user()
    alpha, _ = await _register(api, "quokka_alpha", "Quokka Alpha")
    miss, miss_cost = await _users_found(api, "quokka")
    hit, hit_cost = await _users_found(api, "  quokka ")  # same normalised query
    assert miss == hit == [alpha]
    assert hit_cost < miss_cost
    assert await _found(api, "quokka", viewer.headers) == [alpha]  # cached for the viewer

    beta, _ = await _register(api, "quokka_beta", "Quokka Beta")
    assert await _found(api, "quokka") == sorted([alpha, beta])
    assert await _found(api, "quokka", viewer.headers) == sorted([alpha, beta])

    await auth.set_user_status(api.db, cache, alpha, UserStatus.SUSPENDED)
    for _ in range(2):  # the second round is served from the cache
        assert await _found(api, "quokka") == [beta]
        assert await _found(api, "quokka", viewer.headers) == [beta]
    await auth.set_user_status(api.db, cache, alpha, UserStatus.ACTIVE)
    assert await _found(api, "quokka") == sorted([alpha, beta])
    await auth.set_user_status(api.db, cache, beta, UserStatus.DELETED)
    assert await _found(api, "quokka") == [alpha]
    assert await _found(api, "quokka", viewer.headers) == [alpha]
    await auth.set_user_status(api.db, cache, alpha, UserStatus.DELETED)
    assert await _found(api, "quokka") == []
    assert await _found(api, "quokka", viewer.headers) == []


async def test_stats_route_is_documented_in_openapi(api: Api) -> None:
    schema = (await api.http.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/stats"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    model = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(model["required"]) == {"users", "posts", "comments", "likes", "follows"}
