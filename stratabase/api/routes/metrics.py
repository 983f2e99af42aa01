"""``GET /metrics``: the Prometheus exposition (``observability/metrics.py``).

Protected: the bearer token ``STRATABASE_METRICS_TOKEN`` (what a Prometheus scrape config
sends), or an administrator's session token. Without the setting, administrators only.
Not rate limited: a scraper asks every few seconds.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import Response

from stratabase.api.deps import CacheDep, DatabaseDep, StratabaseDep
from stratabase.api.errors import problem
from stratabase.api.routes._router import api_router
from stratabase.api.schemas.common import EDGE_STATUSES, problem_responses
from stratabase.auth import service as auth_service
from stratabase.observability.metrics import CONTENT_TYPE

router = api_router(tag="health", statuses=EDGE_STATUSES, rate_limited=False)

#: Longest bearer value looked at (a session token or the metrics token).
_MAX_TOKEN = 512


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > _MAX_TOKEN:
        return None
    return value.strip()


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"},
        **problem_responses((401, 403)),
    },
)
async def metrics(
    request: Request, sb: StratabaseDep, db: DatabaseDep, cache: CacheDep
) -> Response:
    """Prometheus metrics of this process (all processes in multiprocess mode), plus the
    queue and ledger figures read from the database. Bearer ``STRATABASE_METRICS_TOKEN``
    or an administrator's token."""
    token = _bearer(request)
    if token is None:
        return problem(
            401,
            code="unauthorized",
            detail="send 'Authorization: Bearer <metrics token>' (or an administrator's token)",
            instance=request.url.path,
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = sb.settings.metrics_token
    if expected is None or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        principal = await auth_service.authenticate(db, cache, token)
        if principal is None or not principal.is_admin:
            return problem(
                403 if principal is not None else 401,
                code="forbidden" if principal is not None else "unauthorized",
                detail="the metrics token or an administrator's token is required",
                instance=request.url.path,
            )
    body = await sb.observability.metrics_text()
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
