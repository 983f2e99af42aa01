"""The product events a client may send, each with the data its type requires.

Seed 003's "events over booleans": a new fact is a new event type here, not a column. A
type not in the registry is refused (HTTP 422 naming the event's index) unless it is
declared first with :func:`declare`. ``token_usage`` is never accepted from clients: those
rows feed the quota aggregate, so only the server writes them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stratabase.schemas.common import MAX_ID

#: Longest stay an ``episode_opened`` may report, in seconds (a day).
MAX_READING_TIME = 86_400


class EventData(BaseModel):
    """The data of one event type: strict, no unknown keys."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EpisodeOpened(EventData):
    """A reader opened an episode and stayed ``reading_time`` seconds."""

    episode_id: int = Field(ge=1, le=MAX_ID)
    reading_time: int = Field(ge=0, le=MAX_READING_TIME)


class PostViewed(EventData):
    """A post was shown to the user."""

    post_id: int = Field(ge=1, le=MAX_ID)
    source: str | None = Field(default=None, max_length=40)


class SearchPerformed(EventData):
    """The user searched; ``results`` is how many came back."""

    query: str = Field(min_length=1, max_length=200)
    results: int = Field(default=0, ge=0, le=MAX_ID)


class HighlightCreated(EventData):
    """The user highlighted a passage of a post."""

    post_id: int = Field(ge=1, le=MAX_ID)


class ChatOpened(EventData):
    """The user opened a chat session."""

    session_id: int = Field(ge=1, le=MAX_ID)


class ProjectViewed(EventData):
    """The user opened a project's page in the studio."""

    project_id: int = Field(ge=1, le=MAX_ID)


_REGISTRY: dict[str, type[EventData]] = {
    "episode_opened": EpisodeOpened,
    "post_viewed": PostViewed,
    "search_performed": SearchPerformed,
    "highlight_created": HighlightCreated,
    "chat_opened": ChatOpened,
    "project_viewed": ProjectViewed,
}

#: Written by the server only (quota accounting); never accepted in a batch.
RESERVED = frozenset({"token_usage"})


_version = 0


def declare(event_type: str, model: type[EventData]) -> None:
    """Accept ``event_type`` from now on, its data validated by ``model``."""
    global _version
    if event_type in RESERVED:
        raise ValueError(f"{event_type!r} is reserved for the server")
    _REGISTRY[event_type] = model
    _version += 1


def forget(event_type: str) -> None:
    """Stop accepting a declared ``event_type`` (tests, plugins being unloaded)."""
    global _version
    _REGISTRY.pop(event_type, None)
    _version += 1


def version() -> int:
    """Changes whenever the registry does (validators built from it are rebuilt)."""
    return _version


def items() -> list[tuple[str, type[EventData]]]:
    """Every accepted type and its data model, sorted by type."""
    return sorted(_REGISTRY.items())


def model_of(event_type: str) -> type[EventData] | None:
    """The data model of a known event type, or None."""
    return _REGISTRY.get(event_type)


def known_types() -> list[str]:
    """Every event type a client may send, sorted."""
    return sorted(_REGISTRY)
