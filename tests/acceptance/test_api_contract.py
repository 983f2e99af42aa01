"""What the API promises in its OpenAPI document and docs pages, checked against the app."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator

import pytest

from stratabase.api.deps import (
    get_admin,
    get_current_user,
    get_optional_user,
    limit_auth,
    limit_by_method,
)
from stratabase.api.errors import PROBLEM_JSON
from stratabase.api.openapi import calls, operations
from stratabase.db.session import Database
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api

#: Statuses any route can answer: a bad body, a body too large, bad input, a bug, an outage.
EVERYWHERE = {"400", "413", "422", "500", "503"}


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for value in make_api(settings, db):
        yield value


async def test_every_operation_documents_every_error_as_a_problem(api: Api) -> None:
    app = api.http._transport.app  # type: ignore[attr-defined]
    spec = (await api.http.get("/openapi.json")).json()
    assert "ValidationError" not in json.dumps(spec)  # FastAPI's HTTPValidationError schema
    checked = 0
    for path, methods, dependant in operations(app):
        if path not in spec["paths"]:
            continue  # the docs pages themselves
        deps = set(calls(dependant))
        for method in methods:
            operation = spec["paths"][path][method.lower()]
            where = f"{method} {path}"
            needed = set(EVERYWHERE)
            if deps & {limit_by_method, limit_auth}:
                needed.add("429")
            if get_optional_user in deps:
                needed.add("401")
            if get_admin in deps:
                needed.add("403")
            if "{" in path:
                needed.add("404")
            responses = operation["responses"]
            assert needed <= set(responses), (where, needed - set(responses))
            for status, response in responses.items():
                if int(status) < 400:
                    continue
                content = response["content"]
                if path == "/health" and status == "503":
                    continue  # the liveness probe's 503 is its report, not a problem
                assert PROBLEM_JSON in content, (where, status)
                problem = content[PROBLEM_JSON]["schema"]
                assert problem == {"$ref": "#/components/schemas/ProblemOut"}, (where, status)
                if not path.startswith("/health"):  # a probe's 503 is its own report
                    assert set(content) == {PROBLEM_JSON}, (where, status)
            security = operation.get("security")
            if get_current_user in deps:
                assert security == [{"HTTPBearer": []}], where
            elif get_optional_user in deps:
                assert security == [{"HTTPBearer": []}, {}], where
            checked += 1
    assert checked > 50


async def test_a_malformed_json_body_is_400_without_a_bogus_field(api: Api) -> None:
    user = await api.user()
    for path, headers in [("/v1/auth/login", {}), ("/v1/posts", user.headers)]:
        response = await api.http.post(
            path,
            content=b'{"email": "a@example.com", "password": ',
            headers={**headers, "Content-Type": "application/json"},
        )
        problem = assert_problem(response, 400)
        assert problem["type"].endswith("/malformed-body")
        assert [error["field"] for error in problem["errors"]] == ["body"]
        assert "character 39" in problem["detail"]
    missing = await api.http.post("/v1/posts", headers=user.headers)
    assert [e["field"] for e in assert_problem(missing, 422)["errors"]] == ["body"]


def _csp_allows(csp: str, script: str) -> bool:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return f"'sha256-{digest}'" in csp


async def test_docs_pages_load_only_local_assets(api: Api) -> None:
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for page in ("/docs", "/redoc"):
        response = await api.http.get(page)
        assert response.status_code == 200
        html = response.text
        assert "http://" not in html and "https://" not in html, page
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        for script in re.findall(r"<script>(.*?)</script>", html, re.DOTALL):
            assert _csp_allows(csp, script), page
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert any(url.endswith(".js") for url in assets), page
        for url in assets:
            assert url.startswith("/docs/assets/"), url
            asset = await api.http.get(url)
            assert asset.status_code == 200, url
            kind = kinds[url[url.rindex(".") :]]
            assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
            assert len(asset.content) > 1000
    spec_url = re.search(r"url: '([^']+)'", (await api.http.get("/docs")).text)
    assert spec_url is not None and spec_url.group(1) == "/openapi.json"
    redirect = await api.http.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "content-security-policy" in redirect.headers
