"""``fields=`` partial responses: a list endpoint returns only the item fields asked for."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

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


def page_response(
    page: Page[Any], model: type[BaseModel], fields: str | None
) -> dict[str, Any] | JSONResponse:
    """The page as a dict (validated against ``model``), trimmed to ``fields`` if given."""
    wanted = parse_fields(fields, model)
    items = [model.model_validate(item) for item in page.items]
    body = {"items": items, "next_cursor": page.next_cursor, "has_more": page.has_more}
    if wanted is None:
        return body
    trimmed = [item.model_dump(mode="json", include=wanted) for item in items]
    return JSONResponse(
        jsonable_encoder(
            {"items": trimmed, "next_cursor": page.next_cursor, "has_more": page.has_more}
        )
    )
