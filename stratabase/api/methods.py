"""Which methods a path answers: the ``Allow`` header of a 405 lists all of them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match, Mount

#: Methods our routes can declare (OPTIONS is answered by the CORS middleware only).
CANDIDATES = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path (HEAD along with GET).

    Starlette fills ``Allow`` from the first route whose path matched, so a path served by
    several routes (GET, PATCH and DELETE of one resource) would list only one of them.
    Each method is asked of the router's own matching, so included routers count too.
    """
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    methods = {
        method
        for method in CANDIDATES
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
