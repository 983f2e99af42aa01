"""Two API "processes" sharing a database and a Redis: a profile edit through one is seen by
the next reads through the other (public profile, post page with the author), although the
other held the old answers in its local tier. Waits for the invalidation message, never
for a duration."""

from __future__ import annotations

from tests.acceptance.api_support import Api
from tests.integration.test_cache_redis import until
from tests.integration.test_post_page_reads import two_apps  # noqa: F401  (the fixture)


async def test_a_rename_through_one_app_reaches_the_other(
    two_apps: tuple[Api, Api],  # noqa: F811
) -> None:
    a, b = two_apps
    me = await a.user()
    post = await a.post(me, title="Signed")
    profile, page = f"/v1/users/{me.id}", f"/v1/posts/{post['id']}"
    for _ in range(2):  # the second read comes from b's local tier
        assert (await b.http.get(profile)).json()["username"] == me.username
        assert (await b.http.get(page)).json()["author"]["username"] == me.username
    renamed = f"{me.username}_new"
    edit = await a.http.patch(
        "/v1/me", json={"username": renamed, "name": "Renamed"}, headers=me.headers
    )
    assert edit.status_code == 200, edit.text

    async def profile_seen() -> bool:
        return bool((await b.http.get(profile)).json()["username"] == renamed)

    async def page_seen() -> bool:
        return bool((await b.http.get(page)).json()["author"]["username"] == renamed)

    await until(profile_seen, "the other app serves the new profile")
    await until(page_seen, "the other app serves the post page with the new author")
    assert (await b.http.get(profile)).json()["name"] == "Renamed"
