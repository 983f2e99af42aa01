"""The S3 media store against a real local S3-compatible server (moto's, run as its own
process on a private port): the store's operations, and uploads through HTTP."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image
from pydantic import SecretStr

from stratabase.db.session import Database
from stratabase.media.store import S3Store, blob_key
from stratabase.settings import Settings
from tests.acceptance.api_support import make_api


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120  # a generous bound for a loaded machine
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


_buckets = iter(range(1, 1_000_000))


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str) -> Settings:
    bucket = f"media-{next(_buckets)}"
    client: Any = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=bucket)
    return settings.model_copy(
        update={
            "media_s3_bucket": bucket,
            "media_s3_endpoint_url": s3_endpoint,
            "media_s3_access_key": "test",
            "media_s3_secret_key": SecretStr("test"),
        }
    )


def _objects(store: S3Store) -> list[str]:
    listed = store._client.list_objects_v2(Bucket=store.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def test_s3_store_operations(s3_settings: Settings, tmp_path: Path) -> None:
    store = S3Store(s3_settings)
    key = blob_key("ab" * 32)
    assert not await store.exists(key)
    staged = tmp_path / "staged"
    staged.write_bytes(b"0123456789" * 1000)
    await store.put_file(key, staged, "application/octet-stream")
    assert not staged.exists()
    assert await store.exists(key)
    whole = b"".join([chunk async for chunk in store.read(key)])
    assert whole == b"0123456789" * 1000
    part = b"".join([chunk async for chunk in store.read(key, 5, 15)])
    assert part == b"5678901234"
    await store.delete(key)
    assert not await store.exists(key)


@pytest.fixture
async def s3_api(s3_settings: Settings, db: Database) -> AsyncIterator[Any]:
    async for api in make_api(s3_settings, db):
        yield api


async def test_uploads_through_http_land_once_in_the_bucket(
    s3_api: Any, s3_settings: Settings
) -> None:
    alice, bob = await s3_api.user(), await s3_api.user()
    out = io.BytesIO()
    Image.new("RGB", (50, 40), "purple").save(out, "PNG")
    data = out.getvalue()
    files = {"file": ("a.png", data, "image/png")}
    first = await s3_api.http.post("/v1/media", files=files, headers=alice.headers)
    assert first.status_code == 201, first.text
    second = await s3_api.http.post("/v1/media", files=files, headers=bob.headers)
    assert second.status_code == 201
    store = S3Store(s3_settings)
    sha = first.json()["sha256"]
    assert _objects(store) == sorted([blob_key(sha), f"thumbs/{sha[:2]}/{sha}.jpg"])
    served = await s3_api.http.get(first.json()["url"])
    assert served.content == data
    assert served.headers["etag"] == f'"{sha}"'
    ranged = await s3_api.http.get(first.json()["url"], headers={"Range": "bytes=1-3"})
    assert (ranged.status_code, ranged.content) == (206, data[1:4])
