"""The studio over HTTP: who may use it, CSRF refusals, and what its APIs answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from stratabase.audit import service as audit_service
from stratabase.auth import service as auth
from stratabase.db.session import Database
from stratabase.enums import JobStatus, Role, UserStatus
from stratabase.models import AuditLog, User
from stratabase.schemas.accounts import UserCreate
from stratabase.settings import Settings, load_settings
from tests.acceptance.api_support import Api, assert_problem, make_api
from tests.studio.studio_support import CSRF, cookies, dead_job, send, studio_routes


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for value in make_api(settings, db):
        yield value


async def test_every_studio_route_refuses_anonymous_and_normal_users(api: Api) -> None:
    user = await api.user()
    suspended = await api.user(status=UserStatus.SUSPENDED)
    routes = studio_routes()
    assert len(routes) >= 14, routes
    for method, path in routes:
        anonymous = await send(api.http, method, path, cookies(None), **{"X-CSRF-Token": CSRF})
        if path.startswith("/studio/api/"):
            assert_problem(anonymous, 401)
        elif method == "GET":
            assert anonymous.status_code == 303, (method, path)
            assert anonymous.headers["location"].startswith("/studio/login?next=")
        for actor in (user, suspended):
            jar = cookies(actor)
            refused = await send(api.http, method, path, jar, **{"X-CSRF-Token": CSRF})
            assert refused.status_code == 403, (method, path, refused.text)
            if path.startswith("/studio/api/"):
                assert_problem(refused, 403)
    # A bearer token is not a studio session.
    page = await send(
        api.http, "GET", "/studio/api/overview", {}, Authorization=user.headers["Authorization"]
    )
    assert_problem(page, 401)


async def test_moderators_use_the_studio_but_jobs_stay_admin_only(api: Api) -> None:
    moderator = await api.user(role=Role.MODERATOR)
    jar = cookies(moderator)
    assert (await send(api.http, "GET", "/studio", jar)).status_code == 200
    assert (await send(api.http, "GET", "/studio/api/overview", jar)).status_code == 200
    assert (await send(api.http, "GET", "/studio/api/tables", jar)).status_code == 200
    assert_problem(await send(api.http, "GET", "/studio/api/jobs", jar), 403)


async def test_posts_need_the_csrf_token_and_our_origin(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    job_id = await dead_job(api.db)
    path = f"/studio/api/jobs/{job_id}/retry"
    no_header = await send(api.http, "POST", path, cookies(admin))
    assert assert_problem(no_header, 403)["type"].endswith("csrf-refused")
    no_cookie = await send(
        api.http, "POST", path, cookies(admin, csrf=None), **{"X-CSRF-Token": CSRF}
    )
    assert_problem(no_cookie, 403)
    wrong = await send(api.http, "POST", path, cookies(admin), **{"X-CSRF-Token": "nope"})
    assert_problem(wrong, 403)
    foreign = await send(
        api.http,
        "POST",
        path,
        cookies(admin),
        Origin="http://evil.example",
        **{"X-CSRF-Token": CSRF},
    )
    assert_problem(foreign, 403)
    ok = await send(
        api.http, "POST", path, cookies(admin), Origin="http://test", **{"X-CSRF-Token": CSRF}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"]["status"] == JobStatus.QUEUED.value
    async with api.db.session() as session:
        audit = (await session.scalars(select(AuditLog))).all()
    assert [(a.action, a.resource_id, a.actor_id) for a in audit] == [
        ("studio.job.retry", str(job_id), admin.id)
    ]
    # Sign-in and sign-out are POSTs too.
    login = await send(api.http, "POST", "/studio/login", cookies(None))
    assert_problem(login, 403)
    logout = await send(api.http, "POST", "/studio/logout", cookies(admin))
    assert_problem(logout, 403)


async def test_login_sets_a_strict_http_only_cookie_for_staff_only(api: Api) -> None:
    passphrase = "kept over reset"
    issued = await auth.register(
        api.db,
        None,
        UserCreate(email="boss@example.com", username="boss", name="Boss", password=passphrase),
        auth.ClientInfo(),
    )
    form = {"email": "boss@example.com", "password": passphrase, "csrf_token": CSRF}
    api.http.cookies.set("sb_studio_csrf", CSRF)
    refused = await api.http.post("/studio/login", data=form)
    assert refused.status_code == 403 and "administrators and moderators" in refused.text

    async with api.db.begin() as session:
        user = await session.get(User, issued.user.id)
        assert user is not None
        user.role = Role.ADMIN
    wrong = await api.http.post("/studio/login", data={**form, "password": "not the one"})
    assert wrong.status_code == 401
    signed = await api.http.post("/studio/login", data={**form, "next": "/studio/jobs"})
    assert signed.status_code == 303 and signed.headers["location"] == "/studio/jobs"
    cookie = next(c for c in signed.headers.get_list("set-cookie") if c.startswith("sb_studio="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/studio" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    outside = await api.http.post("/studio/login", data={**form, "next": "//evil.example/"})
    assert outside.headers["location"] == "/studio"
    page = await api.http.get("/studio")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    bye = await api.http.post("/studio/logout", data={"csrf_token": CSRF})
    assert bye.status_code == 303
    last = next(c for c in outside.headers.get_list("set-cookie") if c.startswith("sb_studio="))
    token = last.split(";")[0].split("=", 1)[1]
    assert (
        await auth.authenticate(api.db, api.http._transport.app.state.stratabase.cache, token)
        is None
    )  # type: ignore[attr-defined]


async def test_the_data_browser_pages_filters_relates_and_masks(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    jar = cookies(admin)
    author = await api.user()
    posts = [await api.post(author, title=f"Post {n}") for n in range(3)]
    await api.comment(author, posts[0]["id"])

    tables = (await send(api.http, "GET", "/studio/api/tables", jar)).json()["items"]
    names = {t["name"] for t in tables}
    assert {"users", "posts", "comments", "jobs", "ledger_transfers", "sessions"} <= names
    for table in tables:  # every table pages (seeded below or empty) on this backend
        listed = await send(
            api.http, "GET", f"/studio/api/tables/{table['name']}/rows?limit=5", jar
        )
        assert listed.status_code == 200, (table["name"], listed.text)
    users_table = next(t for t in tables if t["name"] == "users")
    secret = {c["name"] for c in users_table["columns"] if c["secret"]}
    assert "password_hash" in secret

    first = (await send(api.http, "GET", "/studio/api/tables/posts/rows?limit=2", jar)).json()
    assert [r["id"] for r in first["items"]] == [posts[2]["id"], posts[1]["id"]]
    assert first["has_more"] is True
    rest = await send(
        api.http, "GET", f"/studio/api/tables/posts/rows?limit=2&cursor={first['next_cursor']}", jar
    )
    assert [r["id"] for r in rest.json()["items"]] == [posts[0]["id"]]
    assert rest.json()["has_more"] is False
    mine = await send(api.http, "GET", f"/studio/api/tables/posts/rows?author_id={author.id}", jar)
    assert len(mine.json()["items"]) == 3
    unindexed = await send(api.http, "GET", "/studio/api/tables/posts/rows?title=x", jar)
    assert assert_problem(unindexed, 422)["errors"][0]["field"] == "title"
    bad_value = await send(api.http, "GET", "/studio/api/tables/posts/rows?author_id=abc", jar)
    assert_problem(bad_value, 422)
    assert_problem(await send(api.http, "GET", "/studio/api/tables/nope/rows", jar), 404)

    row = (
        await send(api.http, "GET", f"/studio/api/tables/posts/row?id={posts[0]['id']}", jar)
    ).json()
    assert {
        "column": "author_id",
        "table": "users",
        "target_column": "id",
        "value": author.id,
    } in row["outgoing"]
    comments = next(
        r for r in row["incoming"] if r["table"] == "comments" and r["column"] == "post_id"
    )
    assert comments["count"] == 1

    sessions = (await send(api.http, "GET", "/studio/api/tables/sessions/rows", jar)).json()
    assert sessions["items"] and all(r["token_hash"] == "••••••" for r in sessions["items"])
    user_row = (
        await send(api.http, "GET", f"/studio/api/tables/users/row?id={author.id}", jar)
    ).json()
    assert any(r["table"] == "posts" and r["count"] == 3 for r in user_row["incoming"])


async def test_hide_a_post_and_suspend_a_user_are_audited(api: Api) -> None:
    moderator, admin = await api.user(role=Role.MODERATOR), await api.user(role=Role.ADMIN)
    author = await api.user()
    post = await api.post(author)
    headers = {"X-CSRF-Token": CSRF}
    hidden = await send(
        api.http, "POST", f"/studio/api/posts/{post['id']}/hide", cookies(moderator), **headers
    )
    assert hidden.status_code == 200, hidden.text
    assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 404
    suspended = await send(
        api.http, "POST", f"/studio/api/users/{author.id}/suspend", cookies(moderator), **headers
    )
    assert suspended.status_code == 200, suspended.text
    refused = await send(
        api.http, "POST", f"/studio/api/users/{admin.id}/suspend", cookies(moderator), **headers
    )
    assert_problem(refused, 403)
    unknown = await send(api.http, "POST", "/studio/api/posts/1/explode", cookies(admin), **headers)
    assert_problem(unknown, 422)
    async with api.db.session() as session:
        actions = [
            a.action for a in (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
        ]
        status = await session.scalar(select(User.status).where(User.id == author.id))
    # the suspension's own entry and who made it from the studio, in one transaction
    assert actions == ["studio.post.hide", "user.status_changed", "studio.user.suspend"]
    assert UserStatus(status) == UserStatus.SUSPENDED
    chain = await audit_service.verify(api.db)  # studio entries are links of the chain
    assert chain.ok and chain.checked == 3, chain


async def test_the_overview_counts_traffic(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    author = await api.user()
    post = await api.post(author)
    for _ in range(5):
        assert (await api.http.get("/v1/posts", headers=author.headers)).status_code == 200
    assert (await api.http.get("/v1/nothing-here")).status_code == 404
    answer = await send(api.http, "GET", "/studio/api/overview", cookies(admin))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["requests"]["total_15m"] >= 7
    assert data["requests"]["p99_ms"] is not None
    assert len(data["series"]) == 90
    assert data["queries"]["count"] > 0
    assert data["ledger"]["verify"]["ok"] is True
    assert "depth" in data["jobs"] and "pool" in data
    assert any(b["gauges"] for b in data["series"])

    # The post page's fast path answers anonymous readers below the hook: not counted.
    async def total() -> int:
        answer = await send(api.http, "GET", "/studio/api/overview", cookies(admin))
        return int(answer.json()["requests"]["total_15m"])

    before = await total()
    api.http.cookies.clear()
    assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 200
    assert await total() == before
    signed = await api.http.get(f"/v1/posts/{post['id']}", headers=author.headers)
    assert signed.status_code == 200
    assert await total() == before + 1


async def test_cookies_are_secure_over_https_or_from_a_trusted_tls_proxy(
    settings: Settings, db: Database
) -> None:
    form = {"csrf_token": CSRF}
    proto = {"X-Forwarded-Proto": "https"}

    def session_cookie(response: httpx.Response) -> str:
        return next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("sb_studio=")
        )

    async for api in make_api(settings, db):
        api.http.cookies.set("sb_studio_csrf", CSRF)
        untrusted = await api.http.post("/studio/logout", data=form, headers=proto)
        assert "Secure" not in session_cookie(untrusted)  # anyone can send that header
        api.http.base_url = httpx.URL("https://test")
        direct = await api.http.post("/studio/logout", data=form)
        assert "Secure" in session_cookie(direct)
    behind_proxy = load_settings(database_url=settings.database_url, trusted_proxies="127.0.0.1")
    async for api in make_api(behind_proxy, db):
        api.http.cookies.set("sb_studio_csrf", CSRF)
        forwarded = await api.http.post("/studio/logout", data=form, headers=proto)
        assert "Secure" in session_cookie(forwarded)
