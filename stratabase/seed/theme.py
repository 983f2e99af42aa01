"""Themes are data: one TOML file per theme under ``stratabase/seed/themes/``.

A theme gives the seed generator its vocabulary (categories, personas, title patterns,
paragraph material, tags, media kinds, project ideas, and optional ranked theme words that
:mod:`stratabase.seed.vocabulary` grows into a Zipf-distributed vocabulary). Loading
validates the file with Pydantic; a malformed file is refused with :class:`ThemeError`
naming the file, the field and what is wrong, so adding a theme needs no code and no guessing.
"""

from __future__ import annotations

import re
import string
import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stratabase.enums import MediaType
from stratabase.exceptions import InvalidInput

THEMES_DIR = Path(__file__).parent / "themes"
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
#: Placeholders a title pattern may use; the generator fills each from the theme.
PLACEHOLDERS = frozenset({"topic", "place", "persona"})

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=120)]


class ThemeError(InvalidInput):
    """A theme file is missing or malformed."""

    code = "invalid-theme"


class UnknownTheme(ThemeError):
    """No theme file has this name."""

    code = "unknown-theme"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategorySpec(_Strict):
    """A category the theme seeds; slugs are unique within the theme."""

    name: Short
    slug: Annotated[str, Field(pattern=SLUG, max_length=100)]
    description: Text


class Persona(_Strict):
    """A recurring author voice: a featured user's name and bio."""

    name: Short
    bio: Text


class Quote(_Strict):
    """A quotation posts may cite, with its source."""

    text: Text
    cite: Short


class CodeSample(_Strict):
    """A code block posts may show, with its language tag."""

    language: Annotated[str, Field(pattern=r"^[a-z0-9+#-]+$", max_length=30)]
    code: Text


class Embed(_Strict):
    """An embedded media link (https only) posts may carry."""

    provider: Short
    url: Annotated[str, Field(pattern=r"^https://\S+$", max_length=500)]


class Cadence(_Strict):
    """When a project publishes: weekdays and a local ``HH:MM`` in ``timezone``."""

    days: Annotated[
        list[Annotated[str, Field(pattern=r"^(mon|tue|wed|thu|fri|sat|sun)$")]],
        Field(min_length=1, max_length=7),
    ]
    time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    timezone: Short


class ProjectIdea(_Strict):
    """A recurring project (a series) with its cadence and at least three episode titles."""

    name: Short
    description: Text
    cadence: Cadence
    episode_titles: Annotated[list[Short], Field(min_length=3)]


class Theme(_Strict):
    """One theme file, validated."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
    title: Short
    description: Text
    categories: Annotated[list[CategorySpec], Field(min_length=3)]
    personas: Annotated[list[Persona], Field(min_length=2)]
    places: Annotated[list[Short], Field(min_length=2)]
    topics: Annotated[list[Short], Field(min_length=5)]
    title_patterns: Annotated[list[Short], Field(min_length=3)]
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=50)]], Field(min_length=8)]
    paragraphs: Annotated[list[Text], Field(min_length=5)]
    headings: Annotated[list[Short], Field(min_length=3)]
    quotes: Annotated[list[Quote], Field(min_length=2)]
    list_items: Annotated[list[Short], Field(min_length=4)]
    code: Annotated[list[CodeSample], Field(min_length=1)]
    embeds: Annotated[list[Embed], Field(min_length=1)]
    media_kinds: Annotated[list[MediaType], Field(min_length=1)]
    comments: Annotated[list[Text], Field(min_length=5)]
    projects: Annotated[list[ProjectIdea], Field(min_length=1)]
    chat_prompts: Annotated[list[Text], Field(min_length=2)]
    #: Theme words for generated text, most common first (see :mod:`.vocabulary`); optional.
    vocabulary: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9'-]*$", max_length=50)]],
        Field(default_factory=list, max_length=20_000),
    ]

    @field_validator("title_patterns")
    @classmethod
    def _known_placeholders(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
            unknown = names - PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"pattern {pattern!r} uses unknown placeholder(s) {sorted(unknown)}; "
                    f"allowed: {sorted(PLACEHOLDERS)}"
                )
            if "topic" not in names:
                raise ValueError(f"pattern {pattern!r} must use {{topic}}")
        return patterns

    @field_validator("tags")
    @classmethod
    def _tags_sluggable(cls, tags: list[str]) -> list[str]:
        slugs = [slugify(tag) for tag in tags]
        if any(not slug for slug in slugs):
            raise ValueError("every tag needs at least one letter or digit")
        if len(set(slugs)) != len(slugs):
            raise ValueError("two tags have the same slug")
        return tags

    @model_validator(mode="after")
    def _unique_category_slugs(self) -> Theme:
        slugs = [category.slug for category in self.categories]
        if len(set(slugs)) != len(slugs):
            raise ValueError("categories: two categories have the same slug")
        return self


_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by ``-`` (may be empty, unlike the content slugs)."""
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def available_themes() -> list[str]:
    """Names of the theme files shipped (and added) under ``themes/``."""
    return sorted(path.stem for path in THEMES_DIR.glob("*.toml"))


def load_theme_file(path: Path) -> Theme:
    """Parse and validate one theme file, or raise ThemeError naming file and field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(f"{path}: cannot read the theme file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML: {exc}") from exc
    try:
        theme = Theme.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ThemeError(f"{path}: {field}: {message}{more}", field=field) from exc
    if theme.name != path.stem:
        raise ThemeError(
            f"{path}: name: {theme.name!r} must equal the file name {path.stem!r}", field="name"
        )
    return theme


@cache
def load_theme(name: str) -> Theme:
    """The theme called ``name``; UnknownTheme lists the available ones."""
    path = THEMES_DIR / f"{name}.toml"
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name) or not path.is_file():
        raise UnknownTheme(
            f"unknown theme {name!r}; available themes: {', '.join(available_themes())}",
            field="theme",
        )
    return load_theme_file(path)
