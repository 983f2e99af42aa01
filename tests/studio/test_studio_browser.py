"""The studio in a real Chromium (Debian's ``chromium``, driven by Playwright) against a
real ``stratabase serve``: sign in as an admin, see charts with real numbers after some
traffic, browse a table and follow a relation both ways, retry a dead job. Screenshots go
to ``tests/artifacts/studio/`` (printed at the end); a console error (a CSP refusal, a
script error) fails the test.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratabase.auth import service as auth
from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.models import User
from stratabase.schemas.accounts import UserCreate
from stratabase.settings import load_settings
from tests.conftest import unavailable
from tests.faults_support import free_port
from tests.studio.studio_support import dead_job

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "studio"
PASSPHRASE = "kept over reset"
#: Generous: the machine may be loaded; every wait is on a condition, never a sleep.
WAIT_MS = 30_000


class Server:
    """A ``stratabase serve`` of this test's own, on a free port."""

    def __init__(self, database_url: str, cwd: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
        env.update(
            STRATABASE_DATABASE_URL=database_url,
            STRATABASE_WORKERS="1",
            STRATABASE_RATE_LIMIT_AUTH="",
            STRATABASE_RATE_LIMIT_READ="",
            STRATABASE_RATE_LIMIT_WRITE="",
            STRATABASE_RATE_LIMIT_LOGIN="",
        )
        self.log = cwd / "serve.err"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stratabase", "serve", "--port", str(self.port)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the server did not answer in 120 s"
            try:
                if self.ask("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)

    def ask(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request over a new connection: (status, JSON body or None)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body).encode()
            sent = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _prepare(database_url: str) -> dict[str, Any]:
    """An admin with a password, an author with a bearer token, a dead job."""
    db = Database(load_settings(database_url=database_url, redis_url=""))
    try:
        issued = await auth.register(
            db,
            None,
            UserCreate(
                email="admin@example.com", username="studio_admin", name="Ada", password=PASSPHRASE
            ),
            auth.ClientInfo(),
        )
        async with db.begin() as session:
            admin = await session.get(User, issued.user.id)
            assert admin is not None
            admin.role = Role.ADMIN
            author = User(email="a@example.com", username="author_a", name="Author")
            author.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$not-a-real-hash"
            session.add(author)
            await session.flush()
            author_id = author.id
        token = (await auth.open_session(db, author_id, auth.ClientInfo())).token
        job_id = await dead_job(db)
    finally:
        await db.dispose()
    return {"author": {"Authorization": f"Bearer {token}"}, "job_id": job_id}


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    """The prepared database behind a running server (before Playwright owns the loop)."""
    prepared = asyncio.run(_prepare(database_url))
    server = Server(database_url, tmp_path)
    try:
        yield server, prepared
    finally:
        server.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable("chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("playwright", exc)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_admin_watches_browses_and_retries_in_chromium(
    served: tuple[Server, dict[str, Any]], chromium: Any
) -> None:
    from playwright.sync_api import expect

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    server, prepared = served
    if True:
        # Traffic: posts written and read with a token (the full path, which the timeline
        # sees), a few 404s.
        post_ids = []
        for n in range(3):
            status, body = server.ask(
                "POST",
                "/v1/posts",
                {"kind": "article", "title": f"Studio {n}", "status": "published"},
                prepared["author"],
            )
            assert status == 201, body
            post_ids.append(body["id"])
        for n in range(30):
            path = f"/v1/posts/{post_ids[n % 3]}"
            assert server.ask("GET", path, headers=prepared["author"])[0] == 200
        for _ in range(3):
            assert server.ask("GET", "/v1/posts/999999", headers=prepared["author"])[0] == 404

        context = chromium.new_context(viewport={"width": 1366, "height": 900})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        # Sign in: the studio sends us to its login page first.
        page.goto(server.base + "/studio")
        page.wait_for_url("**/studio/login**")
        page.fill("input[name=email]", "admin@example.com")
        page.fill("input[name=password]", PASSPHRASE)
        page.click("button[type=submit]")
        page.wait_for_url(server.base + "/studio")

        # The overview: charts with real numbers.
        page.wait_for_selector("[data-testid=overview][data-ready='1']")
        rate = page.locator("figure[data-testid=chart][data-title='Requests / s']")
        expect(rate).to_have_count(1)
        assert float(rate.get_attribute("data-max") or 0) > 0
        latency = page.locator("figure[data-testid=chart][data-title='Latency (ms)']")
        assert float(latency.get_attribute("data-max") or 0) > 0
        assert page.locator("figure[data-testid=chart]").count() >= 6
        assert page.locator("figure[data-testid=chart] svg path.line").count() >= 3
        p99 = page.locator("[data-testid=tile-p99] .tile-value").inner_text()
        assert p99.startswith("≤") and "ms" in p99, p99
        expect(page.locator("[data-testid=tile-ledger] .tile-value")).to_have_text("OK")
        expect(page.locator("[data-testid=cache-table] tbody tr").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

        # The data browser: posts, a post, its author, the author's posts.
        page.click("nav.main a[data-section=data]")
        page.click("[data-testid=tables] a[href='/studio/data/posts']")
        page.wait_for_selector("[data-testid=rows] tbody tr")
        assert page.locator("[data-testid=rows] tbody tr").count() == 3
        page.locator("[data-testid=open-row]").first.click()
        page.wait_for_selector("[data-testid=row]")
        page.screenshot(path=str(ARTIFACTS / "row.png"), full_page=True)
        page.click("[data-testid=relation-out]:has-text('author_id → users')")
        page.wait_for_url("**/studio/data/users/row?id=*")
        expect(page.locator("[data-testid=row]")).to_contain_text("author_a")
        expect(page.locator("[data-testid=row]")).to_contain_text("••••••")
        page.click("[data-testid=relation-in]:text-is('posts.author_id')")
        page.wait_for_url("**/studio/data/posts?author_id=*")
        page.wait_for_selector("[data-testid=rows] tbody tr")
        assert page.locator("[data-testid=rows] tbody tr").count() == 3
        page.screenshot(path=str(ARTIFACTS / "related.png"), full_page=True)

        # Jobs: the dead job, retried.
        page.click("nav.main a[data-section=jobs]")
        page.click(f"[data-testid=job-link]:text-is('#{prepared['job_id']}')")
        page.wait_for_selector("[data-testid=job]")
        expect(page.locator("[data-field=status]")).to_have_text("dead")
        page.click("[data-testid=action-retry]")
        expect(page.locator("[data-testid=notice]")).to_contain_text("done")
        expect(page.locator("[data-field=status]")).to_have_text("queued")
        page.screenshot(path=str(ARTIFACTS / "job.png"), full_page=True)

        # A phone: the overview still lays out (no horizontal scroll of the page).
        phone = chromium.new_context(
            viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
        )
        small = phone.new_page()
        small.set_default_timeout(WAIT_MS)
        small.goto(server.base + "/studio")
        small.wait_for_selector("[data-testid=overview][data-ready='1']")
        overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, overflow
        small.screenshot(path=str(ARTIFACTS / "overview-phone.png"), full_page=True)
        phone.close()
        context.close()
        assert not problems, problems
    print(f"studio screenshots: {ARTIFACTS}")
