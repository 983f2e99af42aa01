"""The router every public ``/v1`` resource module starts from."""

from __future__ import annotations

from fastapi import APIRouter

from stratabase.api.deps import InputGuard, RateLimited
from stratabase.api.schemas.common import PROBLEM_RESPONSES


def public_router(prefix: str, tag: str) -> APIRouter:
    """NUL bytes refused, rate limited, problem+json errors documented: the conventions of
    the public API, declared once."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        responses=PROBLEM_RESPONSES,
        dependencies=[InputGuard, RateLimited],
    )
