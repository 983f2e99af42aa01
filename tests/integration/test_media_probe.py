"""``media.probe``: videos uploaded without ffprobe get their duration and resolution once
an ffprobe is on the PATH (here a stand-in script printing ffprobe's JSON)."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stratabase.db.session import Database
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext, builtin_registry
from stratabase.media.jobs import probe_videos
from stratabase.models.media_store import MediaObject
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, make_api

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 100

FAKE_FFPROBE = """#!/bin/sh
cat <<'JSON'
{"streams": [{"codec_type": "audio"}, {"codec_type": "video", "width": 1920, "height": 1080}],
 "format": {"duration": "12.5"}}
JSON
"""


@pytest.fixture
def media_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"media_dir": str(tmp_path / "media")})


@pytest.fixture
async def api(media_settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for client in make_api(media_settings, db):
        yield client


def _context(db: Database, settings: Settings, media_id: int) -> TaskContext:
    job = ClaimedJob(1, "maintenance", "media.probe", {"media_id": media_id}, 1, 3)
    return TaskContext(db=db, settings=settings, job=job)


async def test_probe_waits_for_ffprobe_then_fills_the_metadata(
    api: Api,
    db: Database,
    media_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "media.probe" in builtin_registry(periodic=False)
    alice = await api.user()
    files = {"file": ("clip.mp4", MP4, "video/mp4")}
    response = await api.http.post("/v1/media", files=files, headers=alice.headers)
    assert response.status_code == 201, response.text
    item = response.json()
    assert item["probed"] is False
    assert item["duration_seconds"] is None

    bare = tmp_path / "bare"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    result = await probe_videos(_context(db, media_settings, item["id"]), {"media_id": item["id"]})
    assert result == {"probed": 0, "reason": "ffprobe is not installed"}

    tool = tmp_path / "bin" / "ffprobe"
    tool.parent.mkdir()
    tool.write_text(FAKE_FFPROBE)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}/bin{os.pathsep}/usr/bin")
    result = await probe_videos(_context(db, media_settings, item["id"]), {"media_id": item["id"]})
    assert result == {"probed": 1}
    async with db.session() as session:
        row = await session.scalar(select(MediaObject).where(MediaObject.id == item["id"]))
    assert row is not None
    assert (row.width, row.height, row.duration_seconds) == (1920, 1080, 12.5)
    shown = (await api.http.get(f"/v1/media/{item['id']}")).json()
    assert (shown["probed"], shown["resolution"]) == (True, "1920x1080")
    assert list((Path(media_settings.media_dir) / ".staging").iterdir()) == []
