"""Every input is bounded before it reaches the database, so both backends answer alike.

An integer past BIGINT makes the driver raise OverflowError (a 500); a string longer than
its column is refused by PostgreSQL and stored by SQLite. These tests walk the whole API
description (and every input schema, exposed or not) and the models, so a new field
without bounds fails here rather than in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import stratabase.api.routes.jobs
import stratabase.api.schemas.auth
import stratabase.schemas  # noqa: F401
from stratabase.api.app import create_app
from stratabase.api.routes.wallet import IDEMPOTENCY_KEY_MAX
from stratabase.db.base import Base
from stratabase.schemas.common import MAX_ID, InputModel, Metadata
from stratabase.schemas.ledger import TransferCreate
from stratabase.settings import load_settings

#: Strings whose length is bounded by their format instead (a parsed date-time).
_BOUNDED_FORMATS = {"date-time"}


def _openapi(tmp_path: Path) -> dict[str, Any]:
    app = create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", redis_url=""))
    return app.openapi()


def _unbounded(schema: dict[str, Any], where: str, components: dict[str, Any]) -> Iterator[str]:
    """Every integer without both bounds, string without a maximum length, array without a
    maximum size, free-form object without a maximum number of keys, under ``schema``."""
    seen: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> Iterator[str]:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                yield from walk(components[name], name)
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key, []):
                yield from walk(branch, path)
        kind = node.get("type")
        if kind == "integer":
            low = "minimum" in node or "exclusiveMinimum" in node
            high = "maximum" in node or "exclusiveMaximum" in node
            if not (low and high):
                yield f"{path}: integer without both bounds"
        elif kind == "string":
            bounded = {"maxLength", "enum", "const"} & node.keys()
            if not bounded and node.get("format") not in _BOUNDED_FORMATS:
                yield f"{path}: string without maxLength"
        elif kind == "array":
            if "maxItems" not in node:
                yield f"{path}: array without maxItems"
            yield from walk(node.get("items", {}), f"{path}[]")
        elif kind == "object" and "properties" not in node and "maxProperties" not in node:
            yield f"{path}: free-form object without maxProperties"
        for name, child in node.get("properties", {}).items():
            yield from walk(child, f"{path}.{name}")

    yield from walk(schema, where)


def test_every_request_integer_string_and_list_is_bounded(tmp_path: Path) -> None:
    spec = _openapi(tmp_path)
    components = spec["components"]["schemas"]
    problems: list[str] = []
    inputs = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                inputs += 1
                label = f"{where} {parameter['in']} {parameter['name']}"
                problems += _unbounded(parameter["schema"], label, components)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                inputs += 1
                problems += _unbounded(content["schema"], f"{where} body", components)
    assert inputs > 50  # the walk saw the API, not an empty description
    assert problems == []


def _input_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [InputModel]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if not sub.__name__.startswith("_") and sub.__name__ != "UpdateModel":
                found.append(sub)
    return found


def test_every_input_schema_is_bounded_even_when_not_exposed() -> None:
    problems: list[str] = []
    for model in _input_models():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        problems += _unbounded(schema, model.__name__, schema.get("$defs", {}))
    assert problems == []


#: Where each input schema is stored: its table, and fields stored under another name or in
#: another table (``table.column``). Every InputModel must be listed, so a new one is checked.
_STORED_IN: dict[str, tuple[str | None, dict[str, str]]] = {
    "UserCreate": ("users", {}),
    "RegisterIn": ("users", {"device": "sessions.device"}),
    "LoginRequest": ("users", {"device": "sessions.device"}),
    "CommentCreate": ("comments", {}),
    "CommentUpdate": ("comments", {}),
    "PostCreate": ("posts", {"tags": "tags.name"}),
    "PostUpdate": ("posts", {"tags": "tags.name"}),
    "JobCreate": ("jobs", {}),
    "JobFilter": ("jobs", {}),
    "TransferCreate": ("ledger_transfers", {}),
    "CreditRequest": ("ledger_transfers", {}),
    "PaymentCreate": ("payments", {}),
    # Stored as JSON inside projects.cadence_config: no column of its own.
    "CadenceConfig": (None, {}),
    "ReportCreate": ("content_reports", {}),
    "DecisionCreate": ("moderation_reviews", {"action": "moderation_reviews.action_taken"}),
    "AppealCreate": ("moderation_appeals", {}),
    "UserRoleChange": ("users", {}),
    "AppealDecision": ("moderation_appeals", {"outcome": "moderation_appeals.status"}),
    # The publishing studio (stratabase/publishing/inputs.py).
    "OrganizationCreate": ("organizations", {}),
    "InvitationCreate": ("organization_invitations", {}),
    # Hashed (SHA-256) before it is looked up or stored.
    "InvitationToken": (None, {}),
    "RoleChange": ("organization_members", {}),
    "OwnershipTransfer": ("organization_members", {}),
    "ProjectCreate": ("projects", {"cadence": "projects.cadence_config"}),
    "ProjectUpdate": ("projects", {"cadence": "projects.cadence_config"}),
    "GenerateRequest": ("episodes", {}),
    "NoteCreate": ("planning_notes", {}),
    "NoteResolve": ("planning_notes", {"resolution": "planning_notes.status"}),
    "NoteAttach": ("planning_note_episodes", {}),
    "MemoryWrite": ("agent_memories", {}),
    # Account self-service: passwords are stored hashed, tokens never (only their hash).
    "ProfileUpdate": ("users", {}),
    "ResetRequest": ("users", {}),
    "PasswordChange": (None, {}),
    "ResetConfirm": (None, {}),
    "TokenIn": (None, {}),
    "AccountDeletion": (None, {}),
}


def _max_length(schema: dict[str, Any], defs: dict[str, Any]) -> int | None:
    """The longest string a property accepts (through null unions and list items)."""
    if "$ref" in schema:
        return _max_length(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in schema:
        return max(len(str(value)) for value in schema["enum"])
    lengths = [_max_length(branch, defs) for branch in schema.get("anyOf", [])]
    if schema.get("type") == "array":
        lengths.append(_max_length(schema.get("items", {}), defs))
    if schema.get("type") == "string":
        lengths.append(schema.get("maxLength"))
    known = [length for length in lengths if length is not None]
    return max(known) if known else None


def test_every_input_string_fits_its_column() -> None:
    tables = Base.metadata.tables
    checked = 0
    problems: list[str] = []
    models = _input_models()
    assert {m.__name__ for m in models} == set(_STORED_IN), "map every input schema"
    for model in models:
        table_name, renames = _STORED_IN[model.__name__]
        if table_name is None:
            continue
        schema = model.model_json_schema()
        for name, prop in schema["properties"].items():
            target = renames.get(name, f"{table_name}.{name}")
            table, _, column_name = target.partition(".")
            column = tables[table].c.get(column_name)
            width = getattr(getattr(column, "type", None), "length", None)
            if width is None:
                continue
            checked += 1
            accepted = _max_length(prop, schema.get("$defs", {}))
            if accepted is None or accepted > width:
                problems.append(
                    f"{model.__name__}.{name}: accepts {accepted}, {target} holds {width}"
                )
    assert checked > 30
    assert problems == []


def test_scoped_idempotency_keys_fit_their_column() -> None:
    """The route stores ``u<user id>:<key>``: the longest key of the largest id must fit."""
    width = Base.metadata.tables["ledger_transfers"].c.idempotency_key.type.length
    assert len(f"u{MAX_ID}:") + IDEMPOTENCY_KEY_MAX <= width


@pytest.mark.parametrize("value", [2**63, -1, 0, 2**64])
def test_ids_out_of_range_are_refused_with_the_field(value: int) -> None:
    with pytest.raises(ValidationError) as caught:
        TransferCreate.model_validate({"to_user_id": value, "amount": 1, "reason": "x"})
    assert caught.value.errors()[0]["loc"] == ("to_user_id",)


@pytest.mark.parametrize(
    ("metadata", "kind"),
    [
        ({"blob": "x" * 17_000}, "json_too_large"),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, "json_too_deep"),
        ({f"k{i}": list(range(30)) for i in range(40)}, "json_too_many_keys"),
        ({f"k{i}": 1 for i in range(51)}, "too_long"),
    ],
)
def test_metadata_is_capped_in_size_depth_and_keys(metadata: dict[str, Any], kind: str) -> None:
    from pydantic import TypeAdapter

    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Metadata).validate_python(metadata)
    assert caught.value.errors()[0]["type"] == kind
    assert TypeAdapter(Metadata).validate_python({"note": "x" * 1000, "n": [1, 2]})
