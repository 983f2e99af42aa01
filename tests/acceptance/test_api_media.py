"""Media and video over HTTP, on both backends: uploads (metadata, thumbnail, limits,
sniffed types, deduplication), serving, attachment authorization, trending videos."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import MediaType, Role, UserStatus
from stratabase.models import Job, Media, PostStats
from stratabase.models.media_store import MediaObject
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, make_api

#: An ISO-BMFF header: what an MP4 starts with (enough for the sniffer; ffprobe is absent).
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 200


def png(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def media_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"media_dir": str(tmp_path / "media"), "media_max_bytes": 200_000}
    )


@pytest.fixture
async def api(media_settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for client in make_api(media_settings, db):
        yield client


async def upload(
    api: Api, who: Actor | None, data: bytes, content_type: str = "image/png", name: str = "f"
) -> object:
    files = {"file": (name, data, content_type)}
    return await api.http.post("/v1/media", files=files, headers=who.headers if who else {})


def blobs(settings: Settings) -> list[Path]:
    root = Path(settings.media_dir) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def staged(settings: Settings) -> list[Path]:
    root = Path(settings.media_dir) / ".staging"
    return sorted(root.iterdir()) if root.exists() else []


async def media_rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MediaObject)) or 0)


async def test_upload_image_reads_metadata_and_serves_a_thumbnail(
    api: Api, media_settings: Settings
) -> None:
    alice = await api.user()
    data = png(640, 480)
    response = await upload(api, alice, data)
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    item = response.json()  # type: ignore[attr-defined]
    assert (item["kind"], item["mime_type"]) == ("image", "image/png")
    assert (item["width"], item["height"], item["resolution"]) == (640, 480, "640x480")
    assert item["size_bytes"] == len(data)

    content = await api.http.get(item["url"])
    assert content.status_code == 200
    assert content.content == data
    assert content.headers["content-type"] == "image/png"
    assert content.headers["etag"] == f'"{item["sha256"]}"'
    assert "immutable" in content.headers["cache-control"]
    again = await api.http.get(item["url"], headers={"If-None-Match": content.headers["etag"]})
    assert again.status_code == 304
    part = await api.http.get(item["url"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206
    assert part.content == data[:8]
    assert part.headers["content-range"] == f"bytes 0-7/{len(data)}"
    beyond = await api.http.get(item["url"], headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416

    thumb = await api.http.get(item["thumbnail_url"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) == 320
        assert image.size == (320, 240)
    meta = await api.http.get(f"/v1/media/{item['id']}")
    assert meta.json()["sha256"] == item["sha256"]
    assert staged(media_settings) == []


async def test_oversized_upload_is_refused_and_nothing_is_stored(
    api: Api, media_settings: Settings, db: Database
) -> None:
    alice = await api.user()
    big = png() + b"\x00" * 250_000  # a PNG head, past the 200 000-byte limit
    response = await upload(api, alice, big)
    body = assert_problem(response, 413)  # type: ignore[arg-type]
    assert body["errors"][0]["field"] == "file"
    assert blobs(media_settings) == []
    assert staged(media_settings) == []
    assert await media_rows(db) == 0


async def test_oversized_chunked_upload_is_refused(
    api: Api, media_settings: Settings, db: Database
) -> None:
    alice = await api.user()
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    async def body() -> AsyncIterator[bytes]:
        yield head + png()
        for _ in range(40):  # 40 x 16 KiB: past the limit, no Content-Length declared
            yield b"\x01" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await api.http.post(
        "/v1/media",
        content=body(),
        headers={**alice.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_problem(response, 413)
    assert blobs(media_settings) == []
    assert staged(media_settings) == []
    assert await media_rows(db) == 0


async def test_a_lying_content_type_is_refused(
    api: Api, media_settings: Settings, db: Database
) -> None:
    alice = await api.user()
    declared_jpeg = await upload(api, alice, png(), content_type="image/jpeg")
    body = assert_problem(declared_jpeg, 415)  # type: ignore[arg-type]
    assert body["errors"][0]["field"] == "file"
    assert "image/png" in body["detail"]
    script = await upload(api, alice, b"<script>alert(1)</script>" * 10)
    assert assert_problem(script, 415)["errors"][0]["field"] == "file"  # type: ignore[arg-type]
    not_multipart = await api.http.post(
        "/v1/media", content=png(), headers={**alice.headers, "Content-Type": "image/png"}
    )
    assert assert_problem(not_multipart, 415)["errors"][0]["field"] == "content-type"
    assert await media_rows(db) == 0
    assert blobs(media_settings) == []
    assert staged(media_settings) == []


async def test_decompression_bomb_guard(
    media_settings: Settings, db: Database, tmp_path: Path
) -> None:
    guarded = media_settings.model_copy(update={"media_max_pixels": 1000})
    async for api in make_api(guarded, db):
        alice = await api.user()
        response = await upload(api, alice, png(100, 100))
        body = assert_problem(response, 415)  # type: ignore[arg-type]
        assert "pixels" in body["detail"]
    assert await media_rows(db) == 0


async def test_the_same_bytes_are_stored_once(
    api: Api, media_settings: Settings, db: Database
) -> None:
    alice, bob = await api.user(), await api.user()
    data = png(color="blue")
    first = await upload(api, alice, data)
    second = await upload(api, alice, data, content_type="application/octet-stream")
    third = await upload(api, bob, data)
    assert first.status_code == 201  # type: ignore[attr-defined]
    assert second.status_code == 200  # type: ignore[attr-defined]
    assert second.json()["id"] == first.json()["id"]  # type: ignore[attr-defined]
    assert third.status_code == 201  # type: ignore[attr-defined]
    assert third.json()["id"] != first.json()["id"]  # type: ignore[attr-defined]
    assert len(blobs(media_settings)) == 1
    assert await media_rows(db) == 2
    # Deleting one owner's item keeps the bytes the other still uses.
    gone = await api.http.delete(f"/v1/media/{first.json()['id']}", headers=alice.headers)  # type: ignore[attr-defined]
    assert gone.status_code == 204
    assert len(blobs(media_settings)) == 1
    gone = await api.http.delete(f"/v1/media/{third.json()['id']}", headers=bob.headers)  # type: ignore[attr-defined]
    assert gone.status_code == 204
    assert blobs(media_settings) == []


async def test_attach_detach_delete_authorization(api: Api) -> None:
    owner, other = await api.user(), await api.user()
    admin = await api.user(role=Role.ADMIN)
    post = await api.post(owner)
    mine = (await upload(api, owner, png(color="green"))).json()  # type: ignore[attr-defined]
    theirs = (await upload(api, other, png(color="white"))).json()  # type: ignore[attr-defined]
    path = f"/v1/posts/{post['id']}/media/{mine['id']}"

    assert_problem(await api.http.put(path), 401)
    assert_problem(await api.http.put(path, headers=other.headers), 403)
    foreign = f"/v1/posts/{post['id']}/media/{theirs['id']}"
    assert_problem(await api.http.put(foreign, headers=owner.headers), 403)
    attached = await api.http.put(path, headers=owner.headers)
    assert attached.status_code == 201, attached.text
    assert attached.json() == {"post_id": post["id"], "media_id": mine["id"], "position": 0}
    assert_problem(await api.http.put(path, headers=owner.headers), 409)
    listed = await api.http.get(f"/v1/posts/{post['id']}/media")
    assert [m["id"] for m in listed.json()] == [mine["id"]]

    # Attached: nobody deletes it (409), others may not try (403), anonymous 401.
    assert_problem(await api.http.delete(f"/v1/media/{mine['id']}"), 401)
    assert_problem(await api.http.delete(f"/v1/media/{mine['id']}", headers=other.headers), 403)
    assert_problem(await api.http.delete(f"/v1/media/{mine['id']}", headers=owner.headers), 409)

    assert_problem(await api.http.delete(path), 401)
    assert_problem(await api.http.delete(path, headers=other.headers), 403)
    assert (await api.http.delete(path, headers=admin.headers)).status_code == 204
    assert_problem(await api.http.delete(path, headers=owner.headers), 404)
    # Admins attach the author's own uploads too.
    assert (await api.http.put(path, headers=admin.headers)).status_code == 201
    assert (await api.http.delete(path, headers=owner.headers)).status_code == 204

    assert (
        await api.http.delete(f"/v1/media/{mine['id']}", headers=owner.headers)
    ).status_code == 204
    assert_problem(await api.http.get(f"/v1/media/{mine['id']}"), 404)
    assert_problem(await upload(api, None, png()), 401)  # type: ignore[arg-type]
    suspended = await api.user(status=UserStatus.SUSPENDED)
    assert_problem(await upload(api, suspended, png()), 403)  # type: ignore[arg-type]
    assert (
        await api.http.delete(f"/v1/media/{theirs['id']}", headers=admin.headers)
    ).status_code == 204


async def test_trending_videos_and_video_stats(api: Api, db: Database) -> None:
    author = await api.user()
    quiet = await api.post(author, kind="video", title="Quiet")
    loud = await api.post(author, kind="video", title="Loud")
    middle = await api.post(author, kind="video", title="Middle")
    await api.post(author, kind="article", title="Not a video")

    async def stats(session: AsyncSession) -> None:
        for post, likes, views in ((quiet, 0, 5), (loud, 50, 900), (middle, 10, 100)):
            await session.execute(
                update(PostStats)
                .where(PostStats.post_id == post["id"])
                .values(likes=likes, views=views)
            )

        session.add(
            Media(
                post_id=middle["id"],
                type=MediaType.VIDEO,
                url="https://cdn.example.com/tech/video/1.m3u8",
                width=1280,
                height=720,
                duration_seconds=42.0,
            )
        )  # a seeded video (the seed's media rows)

    await db.transaction(stats)
    clip = await upload(api, author, MP4, content_type="video/mp4", name="clip.mp4")
    assert clip.status_code == 201, clip.text  # type: ignore[attr-defined]
    video = clip.json()  # type: ignore[attr-defined]
    assert (video["kind"], video["mime_type"], video["probed"]) == ("video", "video/mp4", False)
    async with db.session() as session:
        probes = await session.scalar(
            select(func.count()).select_from(Job).where(Job.task == "media.probe")
        )
    assert probes == 1  # ffprobe is not installed here: left for the job
    put = await api.http.put(f"/v1/posts/{loud['id']}/media/{video['id']}", headers=author.headers)
    assert put.status_code == 201

    response = await api.http.get("/v1/videos/trending", params={"limit": 10})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [v["title"] for v in items] == ["Loud", "Middle", "Quiet"]
    assert items[0]["score"] > items[1]["score"] > items[2]["score"]
    assert (items[0]["likes"], items[0]["views"]) == (50, 900)
    assert items[0]["media_id"] == video["id"]
    assert items[0]["hls_url"] == f"/v1/media/{video['id']}/content"

    one = await api.http.get(f"/v1/videos/{middle['id']}")
    assert one.status_code == 200
    seeded = one.json()
    assert (seeded["likes"], seeded["views"], seeded["media_id"]) == (10, 100, None)
    assert seeded["hls_url"] == "https://cdn.example.com/tech/video/1.m3u8"
    assert (seeded["resolution"], seeded["duration_seconds"]) == ("1280x720", 42.0)
    assert_problem(await api.http.get("/v1/videos/999999"), 404)


async def test_draft_videos_are_seen_by_their_author_and_admins_only(api: Api) -> None:
    author, other = await api.user(), await api.user()
    admin = await api.user(role=Role.ADMIN)
    draft = await api.post(author, kind="video", title="Draft", status="draft")
    path = f"/v1/videos/{draft['id']}"
    assert_problem(await api.http.get(path), 404)
    assert_problem(await api.http.get(path, headers=other.headers), 404)
    assert (await api.http.get(path, headers=author.headers)).json()["status"] == "draft"
    assert (await api.http.get(path, headers=admin.headers)).status_code == 200
    article = await api.post(author)
    assert_problem(await api.http.get(f"/v1/videos/{article['id']}"), 404)
    trending = (await api.http.get("/v1/videos/trending")).json()
    assert trending["items"] == [] and trending["has_more"] is False
