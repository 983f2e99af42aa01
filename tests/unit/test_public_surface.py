"""Every package states its public surface (``__all__``), and every name in it exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import stratabase

PACKAGES = sorted(
    info.name
    for info in pkgutil.walk_packages(stratabase.__path__, "stratabase.")
    if info.ispkg and not info.name.startswith("stratabase.migrations.versions")
)


@pytest.mark.parametrize("name", ["stratabase", *PACKAGES])
def test_package_declares_all_and_every_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    assert exported is not None, f"{name} declares no __all__"
    assert package.__doc__, f"{name} has no docstring"
    for item in exported:
        if not hasattr(package, item):
            importlib.import_module(f"{name}.{item}")  # a public submodule
        assert hasattr(package, item), f"{name}.__all__ names {item!r}, which does not exist"


def test_the_library_api_is_importable_from_the_top() -> None:
    from stratabase import Settings, Stratabase

    assert Stratabase.__name__ == "Stratabase" and Settings.__name__ == "Settings"
