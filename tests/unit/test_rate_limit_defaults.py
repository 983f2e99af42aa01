"""Default rates skip the ``limits`` parser at start-up (it costs every command 40 ms), so
they are checked here instead: each default is a rate the parser accepts as it is."""

from __future__ import annotations

import pytest

from stratabase.settings import Settings, check_rate_limit, load_settings


def test_every_default_rate_is_valid() -> None:
    scopes = [name for name in Settings.model_fields if name.startswith("rate_limit_")]
    assert len(scopes) >= 3
    for name in scopes:
        default = Settings.model_fields[name].default
        assert check_rate_limit(default) == default, name


def test_a_rate_set_by_hand_is_still_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATABASE_RATE_LIMIT_AUTH", " 7 per minute ")
    assert load_settings().rate_limit_auth == "7 per minute"
