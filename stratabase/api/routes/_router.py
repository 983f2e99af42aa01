"""The router every resource module starts from, so every route documents its errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from stratabase.api.deps import InputGuard, RateLimited
from stratabase.api.schemas.common import V1_STATUSES, problem_responses


def api_router(
    prefix: str = "",
    *,
    tag: str,
    statuses: tuple[int, ...] = V1_STATUSES,
    rate_limited: bool = True,
    dependencies: Sequence[Any] = (),
) -> APIRouter:
    """NUL bytes refused, rate limited (unless ``rate_limited=False``: the routes then
    limit themselves, or must stay unlimited), and every status in ``statuses`` documented
    as problem+json — which also replaces FastAPI's own 422 schema with ours."""
    guards = [InputGuard, RateLimited] if rate_limited else [InputGuard]
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        responses=problem_responses(statuses),
        dependencies=[*guards, *dependencies],
    )


def public_router(prefix: str, tag: str) -> APIRouter:
    """The conventions of the public ``/v1`` API, declared once."""
    return api_router(prefix, tag=tag)
