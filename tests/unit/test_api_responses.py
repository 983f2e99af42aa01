"""ETag matching and JSON splicing: the rules a revalidating client relies on."""

from __future__ import annotations

import orjson
import pytest

from stratabase.api.responses import etag_of, matches, splice


def test_the_etag_is_strong_and_follows_every_byte() -> None:
    tag = etag_of(b'{"a":1}')
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert etag_of(b'{"a":1}') == tag
    assert etag_of(b'{"a":2}') != tag


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"x"', True),
        ('W/"x"', True),  # If-None-Match uses the weak comparison
        ('"y", "x"', True),
        (' "y" ,W/"x" ', True),
        ("*", True),
        ('"y"', False),
        ("x", False),  # unquoted: not that tag
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert matches(header, '"x"') is expected


def test_splice_adds_one_member() -> None:
    assert orjson.loads(splice(b'{"a":1}', "comments", b'{"items":[]}')) == {
        "a": 1,
        "comments": {"items": []},
    }
    assert orjson.loads(splice(b"{}", "b", b"2")) == {"b": 2}
