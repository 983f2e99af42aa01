"""Shared building blocks for the request/response schemas.

Every input model refuses unknown fields (a typo must not silently do nothing) and strips
surrounding whitespace from strings; read models load straight from ORM objects. The
annotated types here carry the column limits so a bad value fails at the edge, with the
field named, instead of as an integrity error deep in a transaction.
"""

from __future__ import annotations

import functools
import json
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticKnownError

from stratabase.auth.password_policy import password_problem

__all__ = [
    "MAX_AMOUNT",
    "MAX_BIGINT",
    "MAX_ID",
    "MAX_INT",
    "Amount",
    "BigCount",
    "HttpUrlStr",
    "Id",
    "InputModel",
    "IntCount",
    "JsonDocument",
    "LoginPassword",
    "Metadata",
    "Password",
    "PostSlug",
    "ReadModel",
    "Slug",
    "Timezone",
    "UpdateModel",
    "Username",
    "field_error",
]

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
USERNAME_PATTERN = r"^[A-Za-z0-9_]{3,40}$"

#: Largest token amount accepted in one movement: far below BIGINT, far above any real use.
MAX_AMOUNT = 10**15
#: Largest value a BIGINT column holds; every row id is one, so no id can be larger.
MAX_BIGINT = 2**63 - 1
MAX_ID = MAX_BIGINT
#: Largest value an INTEGER column holds.
MAX_INT = 2**31 - 1


class InputModel(BaseModel):
    """Base of every body a client sends: unknown fields refused, strings stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UpdateModel(InputModel):
    """A partial update (PATCH): every field optional, only the fields sent are applied.

    ``null`` is accepted only for fields listed in ``nullable_fields`` (nullable columns);
    elsewhere it is refused rather than turned into a NOT NULL violation later.
    """

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        required = [name for name, info in cls.model_fields.items() if info.is_required()]
        if required:
            raise TypeError(f"{cls.__name__}: update fields must be optional: {required}")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable_fields:
            raise PydanticCustomError(
                "not_nullable", "may not be null; omit the field to leave it unchanged"
            )
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client actually sent, ready to apply."""
        return self.model_dump(exclude_unset=True)


class ReadModel(BaseModel):
    """Base of every response: built from ORM objects (or dicts) by attribute name."""

    model_config = ConfigDict(from_attributes=True)


def field_error(
    model: type[BaseModel], field: str, kind: str, message: str, value: Any
) -> ValidationError:
    """A ValidationError located at ``field``, for cross-field checks in model validators.

    A plain ValueError from a model validator has an empty ``loc``; clients need the field.
    """
    details = InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input=value)
    return ValidationError.from_exception_data(model.__name__, [details])


Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN)]
#: Post slugs get room for a uniqueness suffix (column is 220 wide).
PostSlug = Annotated[str, StringConstraints(min_length=1, max_length=220, pattern=SLUG_PATTERN)]
Username = Annotated[str, StringConstraints(max_length=40, pattern=USERNAME_PATTERN)]
#: A row id: positive and within BIGINT, so an id can never overflow the driver (a 500).
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A count stored in a BIGINT column (bytes, tokens, quotas).
BigCount = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
#: A count or offset stored in an INTEGER column (positions, offsets, pixels).
IntCount = Annotated[int, Field(ge=0, le=MAX_INT)]
#: Money is exact: strict int, so ``true``, ``"5"`` and ``5.0`` are refused, not coerced.
Amount = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT)]


def _json_size(value: Any, depth: int, limits: tuple[int, int]) -> int:
    """The number of keys and items in ``value``; raises past the depth or node limit."""
    if not isinstance(value, dict | list):
        return 0
    max_depth, max_nodes = limits
    if depth > max_depth:
        raise PydanticCustomError(
            "json_too_deep", "nested deeper than {max_depth} levels", {"max_depth": max_depth}
        )
    children = value.values() if isinstance(value, dict) else value
    count = len(value)
    for child in children:
        count += _json_size(child, depth + 1, limits)
        if count > max_nodes:
            raise PydanticCustomError(
                "json_too_many_keys",
                "holds more than {max_nodes} keys and items",
                {"max_nodes": max_nodes},
            )
    return count


def _bounded_json(max_bytes: int, max_depth: int, max_nodes: int) -> AfterValidator:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        _json_size(value, 1, (max_depth, max_nodes))
        try:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        except (TypeError, ValueError) as exc:
            raise PydanticCustomError("json_invalid", "is not storable JSON") from exc
        if size > max_bytes:
            raise PydanticCustomError(
                "json_too_large",
                "is {size} bytes serialized; at most {max_bytes} are accepted",
                {"size": size, "max_bytes": max_bytes},
            )
        return value

    return AfterValidator(check)


#: Free-form JSON attached to a row (post, transfer, payment ``metadata``): at most 50
#: top-level keys, 16 KB serialized, 8 levels deep.
Metadata = Annotated[
    dict[str, Any],
    Field(
        max_length=50,
        json_schema_extra={"x-max-bytes": 16_384, "x-max-depth": 8, "x-max-nodes": 1_000},
    ),
    _bounded_json(16_384, 8, 1_000),
]
#: A larger free-form JSON document (a job's payload, an agent's memory): 64 KB.
JsonDocument = Annotated[
    dict[str, Any],
    Field(
        max_length=200,
        json_schema_extra={"x-max-bytes": 65_536, "x-max-depth": 16, "x-max-nodes": 5_000},
    ),
    _bounded_json(65_536, 16, 5_000),
]


@functools.cache
def _timezones() -> frozenset[str]:
    # available_timezones() walks the tz database on disk: do it once per process.
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _timezones():
        raise PydanticCustomError("timezone", "unknown IANA time zone '{zone}'", {"zone": value})
    return value


#: An IANA zone name such as ``Europe/Paris``; unknown names like ``PST`` are refused.
Timezone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_check_timezone),
    Field(examples=["UTC", "America/New_York"]),
]

_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _check_http_url(value: str) -> str:
    _HTTP_URL.validate_python(value)
    return value


#: An http(s) URL kept as the string the client wrote (no trailing-slash rewriting), at
#: most as long as the URL columns (1000).
HttpUrlStr = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000),
    AfterValidator(_check_http_url),
    Field(json_schema_extra={"format": "uri"}),
]


def _password_validator(
    min_length: int, max_length: int, policy: Callable[[str], str | None] | None = None
) -> Callable[[object], SecretStr]:
    def validate(value: object) -> SecretStr:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise PydanticKnownError("string_type")
        if len(value) < min_length:
            raise PydanticKnownError("string_too_short", {"min_length": min_length})
        if len(value) > max_length:
            raise PydanticKnownError("string_too_long", {"max_length": max_length})
        problem = policy(value) if policy is not None else None
        if problem is not None:
            raise PydanticCustomError("password_policy", problem)
        return SecretStr(value)

    return validate


def _mask_secret(value: SecretStr) -> str:
    return str(value)


#: PlainValidator drops SecretStr's JSON serializer; this restores the ``**********`` mask.
_MASKED_IN_JSON = PlainSerializer(_mask_secret, return_type=str, when_used="json")


def _password_schema(min_length: int, max_length: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": "string",
            "format": "password",
            "writeOnly": True,
            "minLength": min_length,
            "maxLength": max_length,
        }
    )


#: A new password: SecretStr (hidden from repr, logs and dumps), never whitespace-stripped,
#: and not one that is trivially guessed (see ``stratabase.auth.password_policy``).
Password = Annotated[
    SecretStr,
    PlainValidator(_password_validator(10, 128, password_problem)),
    _MASKED_IN_JSON,
    _password_schema(10, 128),
]
#: A password being checked: no length policy beyond a DoS bound, so old passwords still work.
LoginPassword = Annotated[
    SecretStr,
    PlainValidator(_password_validator(1, 128)),
    _MASKED_IN_JSON,
    _password_schema(1, 128),
]
