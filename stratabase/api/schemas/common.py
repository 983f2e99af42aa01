"""Shapes shared by every list endpoint."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    """One keyset page: pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None
    has_more: bool = False


class FieldErrorOut(BaseModel):
    field: str
    message: str
    location: str | None = None


class ProblemOut(BaseModel):
    """An RFC 9457 problem (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldErrorOut] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "model": ProblemOut,
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
        },
    }


#: Error answers every v1 route may give, documented once per router.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("missing, invalid, expired or revoked bearer token"),
    403: _problem("not allowed (role, authorship, block, suspended account)"),
    404: _problem("no such object, or not visible to the caller"),
    409: _problem("conflicts with the current state"),
    422: _problem("invalid input; `errors` names the fields"),
    429: _problem("rate limited; see the Retry-After header"),
}
