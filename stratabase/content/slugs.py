"""URL slugs derived from titles and tag names."""

from __future__ import annotations

import re
import secrets

from stratabase.search.text import normalise

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, *, max_length: int = 60) -> str:
    """Lowercase ASCII words joined by ``-``, never empty (``item`` when nothing is left)."""
    slug = _NON_SLUG.sub("-", normalise(text)).strip("-")
    return slug[:max_length].strip("-") or "item"


def unique_post_slug(title: str) -> str:
    """A readable slug with a random suffix, so two posts with one title never collide."""
    return f"{slugify(title, max_length=200)}-{secrets.token_hex(4)}"
