"""Themes are data files: every shipped theme loads; a malformed one is refused clearly."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from stratabase.seed.theme import (
    THEMES_DIR,
    ThemeError,
    UnknownTheme,
    available_themes,
    load_theme,
    load_theme_file,
)


def test_the_three_themes_ship() -> None:
    assert {"politics", "tech", "science"} <= set(available_themes())


@pytest.mark.parametrize("name", available_themes())
def test_each_theme_loads(name: str) -> None:
    theme = load_theme(name)
    assert theme.name == name
    assert len({c.slug for c in theme.categories}) == len(theme.categories)


def test_unknown_theme_lists_the_available_ones() -> None:
    with pytest.raises(UnknownTheme) as error:
        load_theme("astrology")
    for name in available_themes():
        assert name in error.value.message


def _write_variant(tmp_path: Path, name: str, change: str) -> Path:
    """The politics file with one line replaced, saved as ``name``.toml."""
    text = (
        (THEMES_DIR / "politics.toml").read_text().replace('name = "politics"', f'name = "{name}"')
    )
    old, new = change.split(" => ")
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ('slug = "trade-economy" => slug = "Trade Economy"', "categories.1.slug", "pattern"),
        (
            '"Inside {topic}", => "Inside {topic} for {nobody}",',
            "title_patterns",
            "unknown placeholder",
        ),
        (
            'media_kinds = ["image", "video", "document"] => media_kinds = ["hologram"]',
            "media_kinds.0",
            "image",
        ),
        ('title = "Western Hemisphere politics" => ', "title", "Field required"),
    ],
)
def test_malformed_theme_names_file_and_field(
    tmp_path: Path, change: str, field: str, words: str
) -> None:
    path = _write_variant(tmp_path, "broken", change)
    with pytest.raises(ThemeError) as error:
        load_theme_file(path)
    message = error.value.message
    assert message.startswith(f"{path}: {field}:"), message
    assert words in message
    assert error.value.field == field


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\ncategories = [\n')
    with pytest.raises(ThemeError, match=rf"^{path}: not valid TOML"):
        load_theme_file(path)


def test_name_must_match_file(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text((THEMES_DIR / "tech.toml").read_text())
    with pytest.raises(ThemeError, match=r"other.toml: name: 'tech' must equal"):
        load_theme_file(path)


def test_shipped_files_are_plain_toml() -> None:
    for name in available_themes():
        assert tomllib.loads((THEMES_DIR / f"{name}.toml").read_text())["name"] == name
