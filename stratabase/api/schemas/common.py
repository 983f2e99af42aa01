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
    """One field a request got wrong, and how."""

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


_DESCRIPTIONS: dict[int, str] = {
    400: "malformed request: a body that is not JSON, a bad Content-Length",
    401: "missing, invalid, expired or revoked bearer token",
    402: (
        "a plan limit or quota is reached; the body carries the numbers"
        " (`limit`, `active`; or `quota`, `used`, `requested`)"
    ),
    403: "not allowed (role, authorship, block, suspended account)",
    404: "no such object, or not visible to the caller",
    409: "conflicts with the current state",
    413: "the request body is larger than STRATABASE_MAX_BODY_BYTES",
    422: "invalid input; `errors` names the fields",
    429: "rate limited; see the Retry-After header",
    500: "unexpected error (logged on the server; no details are given)",
    503: "the database or another service is unavailable; retry later",
}

#: What any route can answer whatever it does: edge refusals, bad input, outages.
EDGE_STATUSES = (400, 413, 422, 500, 503)
#: What a ``/v1`` route can answer: the edge, plus auth, state and rate-limit refusals.
V1_STATUSES = (*EDGE_STATUSES, 401, 403, 404, 409, 429)


def problem_responses(statuses: tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting ``statuses`` as ``application/problem+json``."""
    return {status: _problem(_DESCRIPTIONS[status]) for status in sorted(statuses)}


#: Error answers every v1 route may give, documented once per router.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(V1_STATUSES)
