"""Unit tests for the request/response schemas: what is accepted, how it is normalised, and
that every refusal names the field at fault. No database: ORM objects stay transient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

import stratabase.schemas as schemas
from stratabase.models import Post, User
from stratabase.schemas import (
    CadenceConfig,
    CommentCreate,
    CommentUpdate,
    CreditRequest,
    InputModel,
    JobCreate,
    LoginRequest,
    PaymentCreate,
    PostCreate,
    PostRead,
    PostUpdate,
    RelationshipRead,
    Slug,
    TransferCreate,
    UpdateModel,
    UserCreate,
    UserRead,
    WalletRead,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def refused(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Validate ``data`` expecting failure; return the first error."""
    with pytest.raises(ValidationError) as exc_info:
        model.model_validate(data)
    return dict(exc_info.value.errors()[0])


def user_data(**changes: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "username": "ada", "password": "correct horse"} | changes


def post_data(**changes: Any) -> dict[str, Any]:
    return {"kind": "article", "title": "Hello"} | changes


def transfer_data(**changes: Any) -> dict[str, Any]:
    return {"to_user_id": 2, "amount": 100, "reason": "tip"} | changes


def job_data(**changes: Any) -> dict[str, Any]:
    return {"task": "posts.publish"} | changes


def cadence_data(**changes: Any) -> dict[str, Any]:
    return {"days": ["mon", "thu"], "time": "09:00", "timezone": "America/New_York"} | changes


# --- shared behaviour ------------------------------------------------------------------

MINIMAL_INPUTS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (UserCreate, user_data()),
    (LoginRequest, {"email": "ada@example.com", "password": "x"}),
    (PostCreate, post_data()),
    (PostUpdate, {}),
    (CommentCreate, {"body": "Nice"}),
    (TransferCreate, transfer_data()),
    (CreditRequest, {"user_id": 1, "amount": 5, "reason": "welcome"}),
    (PaymentCreate, {"provider": "stripe", "amount": 500}),
    (JobCreate, job_data()),
    (CadenceConfig, cadence_data()),
]
MINIMAL_IDS = [model.__name__ for model, _ in MINIMAL_INPUTS]


@pytest.mark.parametrize(("model", "data"), MINIMAL_INPUTS, ids=MINIMAL_IDS)
def test_minimal_input_is_accepted(model: type[BaseModel], data: dict[str, Any]) -> None:
    parsed = model.model_validate(data)
    assert parsed.model_fields_set == set(data)
    dumped = parsed.model_dump(mode="json", include=set(data))
    for key in data:  # secrets dump masked: compare what they hold
        held = getattr(parsed, key)
        if hasattr(held, "get_secret_value"):
            dumped[key] = held.get_secret_value()
    assert dumped == data


@pytest.mark.parametrize(("model", "data"), MINIMAL_INPUTS, ids=MINIMAL_IDS)
def test_unknown_field_is_refused(model: type[BaseModel], data: dict[str, Any]) -> None:
    error = refused(model, data | {"surprise": 1})
    assert (error["loc"], error["type"]) == (("surprise",), "extra_forbidden")


EXPORTED_MODELS = [
    obj
    for obj in (getattr(schemas, name) for name in schemas.__all__)
    if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.model_fields
]


def _input_name(name: str, field: FieldInfo) -> str:
    """The key the JSON schema uses for a field on input (its first validation alias)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return alias if isinstance(alias, str) else field.alias or name


@pytest.mark.parametrize("model", EXPORTED_MODELS, ids=lambda model: model.__name__)
def test_every_exported_model_documents_its_fields(model: type[BaseModel]) -> None:
    # FastAPI builds its OpenAPI document from these: every field, and exactly the
    # required ones marked required, or clients are told the wrong contract.
    inputs = {_input_name(name, field): field for name, field in model.model_fields.items()}
    schema = model.model_json_schema()
    assert set(schema["properties"]) == set(inputs)
    required = {name for name, field in inputs.items() if field.is_required()}
    assert set(schema.get("required", [])) == required
    outputs = set(model.model_fields) | set(model.model_computed_fields)
    assert set(model.model_json_schema(mode="serialization")["properties"]) == outputs


@pytest.mark.parametrize(
    ("slug", "ok"),
    [("acme", True), ("acme-2", True), ("Acme", False), ("acme--co", False), ("-acme", False)],
)
def test_slug_pattern(slug: str, ok: bool) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(Slug)
    if ok:
        assert adapter.validate_python(slug) == slug
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(slug)


def test_update_model_refuses_a_required_field_at_class_creation() -> None:
    with pytest.raises(TypeError, match="must be optional"):

        class BadUpdate(UpdateModel):
            name: str


def test_update_changes_holds_only_the_fields_sent() -> None:
    update = PostUpdate.model_validate({"title": "  New title ", "summary": None})
    assert update.changes() == {"title": "New title", "summary": None}


@pytest.mark.parametrize(
    ("model", "field"),
    [(PostUpdate, "title"), (CommentUpdate, "body")],
)
def test_update_refuses_null_for_a_not_null_column(model: type[BaseModel], field: str) -> None:
    error = refused(model, {field: None})
    assert (error["loc"], error["type"]) == ((field,), "not_nullable")


def test_input_models_strip_whitespace() -> None:
    assert issubclass(CommentCreate, InputModel)
    assert CommentCreate.model_validate({"body": "  hello \n"}).body == "hello"


# --- accounts --------------------------------------------------------------------------


def test_user_create_normalises_email_and_keeps_password_verbatim() -> None:
    user = UserCreate.model_validate(
        user_data(email="  Ada.Lovelace@Example.COM ", username=" ada_l ", password=" spaced pass ")
    )
    assert user.email == "ada.lovelace@example.com"
    assert user.username == "ada_l"
    assert user.timezone == "UTC"
    # Passwords are secrets: whitespace is significant, and they never show in dumps.
    assert user.password.get_secret_value() == " spaced pass "
    assert "spaced" not in repr(user)
    assert "spaced" not in user.model_dump_json()


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"email": "not-an-email"}, ("email",)),
        ({"username": "ab"}, ("username",)),
        ({"username": "has space"}, ("username",)),
        ({"username": "x" * 41}, ("username",)),
        ({"password": "too-short"}, ("password",)),
        ({"password": "x" * 129}, ("password",)),
        ({"timezone": "Mars/Olympus_Mons"}, ("timezone",)),
        ({"avatar_url": "ftp://example.com/a.png"}, ("avatar_url",)),
        ({"avatar_url": "https://example.com/" + "a" * 1000}, ("avatar_url",)),
        ({"bio": "b" * 2001}, ("bio",)),
        ({"role": "admin"}, ("role",)),
    ],
)
def test_user_create_refuses(changes: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert refused(UserCreate, user_data(**changes))["loc"] == loc


def test_user_read_never_exposes_the_password_hash() -> None:
    user = User(
        id=7,
        email="ada@example.com",
        username="ada",
        name="Ada",
        timezone="Europe/London",
        role="user",
        status="active",
        password_hash="$argon2id$secret",
        created_at=NOW,
        updated_at=NOW,
    )
    dumped = UserRead.model_validate(user).model_dump()
    assert dumped["username"] == "ada"
    assert "password_hash" not in dumped
    assert "$argon2id$secret" not in repr(dumped)


# --- content ---------------------------------------------------------------------------

ALL_BLOCKS: list[dict[str, Any]] = [
    {"type": "paragraph", "text": "Opening line."},
    {"type": "heading", "text": "Part one", "level": 2},
    {"type": "quote", "text": "To be or not to be", "cite": "Hamlet"},
    {"type": "list", "items": ["one", "two"], "ordered": True},
    {"type": "image", "url": "https://cdn.example.com/a.png", "alt": "A", "width": 640},
    {"type": "code", "code": "    indented()\n", "language": "python"},
    {"type": "embed", "url": "https://www.youtube.com/watch?v=x", "provider": "youtube"},
]


def test_content_blocks_round_trip_through_dump_and_json() -> None:
    post = PostCreate.model_validate(post_data(content_blocks=ALL_BLOCKS))
    assert [type(block).__name__ for block in post.content_blocks] == [
        "ParagraphBlock",
        "HeadingBlock",
        "QuoteBlock",
        "ListBlock",
        "ImageBlock",
        "CodeBlock",
        "EmbedBlock",
    ]
    assert PostCreate.model_validate(post.model_dump()) == post
    assert PostCreate.model_validate_json(post.model_dump_json()) == post
    # Code keeps its indentation even though input strings are stripped elsewhere.
    assert post.model_dump()["content_blocks"][5]["code"] == "    indented()\n"


@pytest.mark.parametrize(
    ("block", "loc", "error_type"),
    [
        ({"type": "video", "url": "https://x.example"}, ("content_blocks", 0), "union_tag_invalid"),
        ({"text": "no type"}, ("content_blocks", 0), "union_tag_not_found"),
        (
            {"type": "heading", "text": "Too deep", "level": 7},
            ("content_blocks", 0, "heading", "level"),
            "less_than_equal",
        ),
        (
            {"type": "heading", "text": "x", "level": 0},
            ("content_blocks", 0, "heading", "level"),
            "greater_than_equal",
        ),
        ({"type": "list", "items": []}, ("content_blocks", 0, "list", "items"), "too_short"),
        (
            {"type": "list", "items": ["x"] * 101},
            ("content_blocks", 0, "list", "items"),
            "too_long",
        ),
        (
            {"type": "list", "items": ["ok", "   "]},
            ("content_blocks", 0, "list", "items", 1),
            "string_too_short",
        ),
        (
            {"type": "paragraph", "text": "x", "bold": True},
            ("content_blocks", 0, "paragraph", "bold"),
            "extra_forbidden",
        ),
        (
            {"type": "image", "url": "javascript:alert(1)"},
            ("content_blocks", 0, "image", "url"),
            "url_scheme",
        ),
    ],
)
def test_bad_content_block_is_refused_where_it_is(
    block: dict[str, Any], loc: tuple[Any, ...], error_type: str
) -> None:
    error = refused(PostCreate, post_data(content_blocks=[block]))
    assert (error["loc"], error["type"]) == (loc, error_type)


def test_at_most_200_blocks() -> None:
    blocks = [{"type": "paragraph", "text": "p"}] * 200
    assert len(PostCreate.model_validate(post_data(content_blocks=blocks)).content_blocks) == 200
    assert refused(PostCreate, post_data(content_blocks=[*blocks, blocks[0]]))["loc"] == (
        "content_blocks",
    )


def test_post_tags_are_stripped_and_deduplicated_case_insensitively() -> None:
    post = PostCreate.model_validate(post_data(tags=[" Python ", "python", "rust"]))
    assert post.tags == ["Python", "rust"]
    assert refused(PostCreate, post_data(tags=[f"t{i}" for i in range(21)]))["loc"] == ("tags",)


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"kind": "podcast"}, ("kind",)),
        ({"title": "   "}, ("title",)),
        ({"title": "t" * 201}, ("title",)),
        ({"slug": "Not A Slug"}, ("slug",)),
        ({"summary": "s" * 501}, ("summary",)),
        ({"category_id": 0}, ("category_id",)),
        ({"status": "hidden"}, ("status",)),
    ],
)
def test_post_create_refuses(changes: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert refused(PostCreate, post_data(**changes))["loc"] == loc


def test_post_read_maps_the_orm_meta_attribute_to_metadata() -> None:
    post = Post(
        id=1,
        author_id=2,
        kind="article",
        title="Hello",
        slug="hello",
        content_blocks=[{"type": "paragraph", "text": "Hi"}],
        status="draft",
        meta={"source": "import"},
        created_at=NOW,
        updated_at=NOW,
    )
    read = PostRead.model_validate(post)
    assert read.metadata == {"source": "import"}
    assert read.content_blocks[0].type == "paragraph"
    assert read.stats is None and read.tags is None and read.media is None
    assert PostRead.model_validate(read.model_dump()) == read


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"body": ""}, ("body",)),
        ({"body": " \n "}, ("body",)),
        ({"body": "b" * 10_001}, ("body",)),
        ({"body": "reply", "parent_id": 0}, ("parent_id",)),
    ],
)
def test_comment_create_refuses(data: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert refused(CommentCreate, data)["loc"] == loc


# --- social ----------------------------------------------------------------------------


def test_relationship_defaults_to_strangers() -> None:
    relation = RelationshipRead.model_validate({"user_id": 3, "following": True})
    assert relation.model_dump() == {
        "user_id": 3,
        "following": True,
        "followed_by": False,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
    }


# --- ledger ----------------------------------------------------------------------------


def test_transfer_create_accepts_the_largest_amount_and_a_reference() -> None:
    transfer = TransferCreate.model_validate(
        transfer_data(amount=10**15, reason=" tip ", reference_type="post", reference_id=42)
    )
    assert (transfer.amount, transfer.reason, transfer.reference_id) == (10**15, "tip", "42")


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"amount": 0}, ("amount",)),
        ({"amount": -5}, ("amount",)),
        ({"amount": 10**15 + 1}, ("amount",)),
        ({"amount": 1.5}, ("amount",)),
        ({"amount": 5.0}, ("amount",)),
        ({"amount": "5"}, ("amount",)),
        ({"amount": True}, ("amount",)),
        ({"reason": ""}, ("reason",)),
        ({"reason": "r" * 201}, ("reason",)),
        ({"to_user_id": None}, ("to_user_id",)),
        ({"to_account_id": 9}, ("to_account_id",)),
        ({"reference_type": "post"}, ("reference_id",)),
        ({"reference_id": "42"}, ("reference_type",)),
    ],
)
def test_transfer_create_refuses(changes: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert refused(TransferCreate, transfer_data(**changes))["loc"] == loc


def test_credit_request_needs_a_user() -> None:
    assert refused(CreditRequest, {"amount": 5, "reason": "mint"})["loc"] == ("user_id",)


def test_payment_currency_is_upper_cased() -> None:
    payment = PaymentCreate.model_validate({"provider": "stripe", "amount": 999, "currency": "eur"})
    assert payment.currency == "EUR"


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"currency": "US"}, ("currency",)),
        ({"currency": "US1"}, ("currency",)),
        ({"currency": "EURO"}, ("currency",)),
        ({"provider": "venmo"}, ("provider",)),
        ({"amount": 0}, ("amount",)),
    ],
)
def test_payment_create_refuses(changes: dict[str, Any], loc: tuple[str, ...]) -> None:
    data = {"provider": "paypal", "amount": 500} | changes
    assert refused(PaymentCreate, data)["loc"] == loc


def test_wallet_read_derives_available_from_pending_debits() -> None:
    account = {
        "id": 1,
        "user_id": 2,
        "currency": "TOK",
        "balance": 100,
        "pending_debits": 30,
        "earned_total": 150,
        "spent_total": 50,
    }
    wallet = WalletRead.model_validate(account)
    assert (wallet.balance, wallet.pending, wallet.available) == (100, 30, 70)
    assert wallet.model_dump()["available"] == 70
    assert WalletRead.model_validate(wallet.model_dump()) == wallet


# --- jobs ------------------------------------------------------------------------------


def test_job_scheduling() -> None:
    assert JobCreate.model_validate(job_data()).scheduled_at(NOW) == NOW
    delayed = JobCreate.model_validate(job_data(delay_seconds=60))
    assert delayed.scheduled_at(NOW) == NOW + timedelta(seconds=60)
    at = JobCreate.model_validate_json('{"task": "t", "run_at": "2030-02-01T08:00:00+02:00"}')
    assert at.scheduled_at(NOW) == datetime(2030, 2, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"queue": "Emails"}, ("queue",)),
        ({"queue": ""}, ("queue",)),
        ({"queue": "q" * 61}, ("queue",)),
        ({"task": ""}, ("task",)),
        ({"priority": 1001}, ("priority",)),
        ({"priority": -1001}, ("priority",)),
        ({"run_at": "2030-01-01T00:00:00"}, ("run_at",)),
        ({"delay_seconds": -1}, ("delay_seconds",)),
        ({"run_at": "2030-01-01T00:00:00Z", "delay_seconds": 5}, ("delay_seconds",)),
        ({"max_attempts": 0}, ("max_attempts",)),
        ({"max_attempts": 101}, ("max_attempts",)),
        ({"unique_key": "k" * 201}, ("unique_key",)),
    ],
)
def test_job_create_refuses(changes: dict[str, Any], loc: tuple[str, ...]) -> None:
    assert refused(JobCreate, job_data(**changes))["loc"] == loc


def test_naive_datetime_is_refused_as_such() -> None:
    error = refused(JobCreate, job_data(run_at=datetime(2030, 1, 1)))
    assert (error["loc"], error["type"]) == (("run_at",), "timezone_aware")


# --- publishing ------------------------------------------------------------------------


def test_cadence_days_are_normalised_to_week_order() -> None:
    cadence = CadenceConfig.model_validate(cadence_data(days=["Thu", " mon "]))
    assert cadence.model_dump() == {
        "days": ["mon", "thu"],
        "time": "09:00",
        "timezone": "America/New_York",
    }


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"days": []}, ("days",)),
        ({"days": ["mon", "mon"]}, ("days",)),
        ({"days": ["mon", "someday"]}, ("days", 1)),
        ({"time": "24:00"}, ("time",)),
        ({"time": "9:00"}, ("time",)),
        ({"time": "09:60"}, ("time",)),
        ({"timezone": "PST"}, ("timezone",)),
        ({"timezone": "Europe/Atlantis"}, ("timezone",)),
    ],
)
def test_cadence_refuses(changes: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert refused(CadenceConfig, cadence_data(**changes))["loc"] == loc
