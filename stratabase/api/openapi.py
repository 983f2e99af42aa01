"""The OpenAPI document, corrected where FastAPI cannot tell on its own.

A route that reads the bearer token only to know who is asking (anonymous callers are
welcome) would be documented as *requiring* the token: here its security requirement
gains the empty alternative ``{}``, which is how OpenAPI says "optional". And an error
documented with a ``model`` is listed by FastAPI as ``application/json`` too, though it is
only ever sent as ``application/problem+json``: that second entry is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from stratabase.api.deps import get_current_user
from stratabase.api.errors import PROBLEM_JSON


def operations(app: FastAPI) -> Iterator[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of every API route, router dependencies included."""
    try:  # FastAPI >= 0.16x resolves included routers lazily: ask for their effective routes.
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: routes are flat
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, set(route.methods or ()), route.dependant
        return
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant) and context.path_format and context.methods:
            yield context.path_format, set(context.methods), dependant


def calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    """Every dependency callable of ``dependant``, depth first."""
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from calls(dependency)


def install_openapi(app: FastAPI) -> None:
    """Build the document as FastAPI does, then mark optional security as optional."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        optional = {
            (path, method.lower())
            for path, methods, dependant in operations(app)
            if get_current_user not in set(calls(dependant))
            for method in methods
        }
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                security = operation.get("security")
                if security and (path, method) in optional and {} not in security:
                    security.append({})
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_JSON in content:
                        problem = content[PROBLEM_JSON]["schema"]
                        if content.get("application/json", {}).get("schema") == problem:
                            del content["application/json"]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
