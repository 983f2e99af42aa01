"""The API's routers are included read path first (``api/app.py``), for speed. That is
safe only while no request could be served by two routers: then their order decides
nothing. This checks it for every documented path, with a few sample values per
parameter (including ones that are also literal path segments, like ``popular``)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Match

from stratabase.api.app import create_app
from stratabase.settings import load_settings

SAMPLES = ("1", "popular", "trending", "me", "x")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def test_no_request_is_served_by_two_routers(tmp_path: Path) -> None:
    app = create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))
    paths = {
        re.sub(r"\{[^}]+\}", value, path) for path in app.openapi()["paths"] for value in SAMPLES
    }
    ambiguous = []
    for path in sorted(paths):
        for method in METHODS:
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            full = [
                i
                for i, route in enumerate(app.router.routes)
                if route.matches(scope)[0] == Match.FULL
            ]
            if len(full) > 1:
                ambiguous.append(f"{method} {path}: top-level routes {full}")
    assert not ambiguous, ambiguous
