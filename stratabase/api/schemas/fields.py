"""``fields=`` partial responses: a list endpoint returns only the item fields asked for.

The services load only what ``fields`` names (:class:`stratabase.content.queries.Shape`, the
users list's columns), so the items handed here may lack the other fields: each
``(model, fields)`` pair gets a *partial model* holding only those fields, with the same
types and aliases as the full one, so a trimmed answer is formatted exactly like the full
answer's fields. A page is validated and serialized once (one pydantic pass to bytes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, create_model

from stratabase.api.schemas.common import PageOut
from stratabase.exceptions import InvalidInput
from stratabase.pagination import Page


def parse_fields(fields: str | None, model: type[BaseModel]) -> set[str] | None:
    """The requested field names, or None for all; unknown names are a 422."""
    if fields is None:
        return None
    names = {name.strip() for name in fields.split(",") if name.strip()}
    unknown = sorted(names - set(model.model_fields))
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)}", field="fields")
    if not names:
        raise InvalidInput("fields is empty", field="fields")
    return names | {"id"} if "id" in model.model_fields else names


@lru_cache(maxsize=256)
def partial_model(model: type[BaseModel], wanted: frozenset[str] | None) -> type[BaseModel]:
    """``model`` restricted to ``wanted`` (same field types, defaults and aliases)."""
    if wanted is None:
        return model
    definitions: dict[str, Any] = {
        name: (info.annotation, info) for name, info in model.model_fields.items() if name in wanted
    }
    partial: type[BaseModel] = create_model(
        f"{model.__name__}Fields",
        __config__=model.model_config,
        **definitions,
    )
    return partial


@lru_cache(maxsize=256)
def _page_adapter(item: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(PageOut[item])  # type: ignore[valid-type]


def page_json(page: Page[Any], model: type[BaseModel], wanted: set[str] | None) -> bytes:
    """The page as JSON bytes: items validated against ``model`` (or its partial form)."""
    adapter = _page_adapter(partial_model(model, frozenset(wanted) if wanted else None))
    body = {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more}
    return adapter.dump_json(adapter.validate_python(body))


def page_response(page: Page[Any], model: type[BaseModel], fields: str | None) -> Response:
    """The page as a JSON response, trimmed to ``fields`` if given."""
    return Response(
        page_json(page, model, parse_fields(fields, model)), media_type="application/json"
    )
