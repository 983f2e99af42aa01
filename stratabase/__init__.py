"""Stratabase: the data backbone for content and community applications.

``Stratabase`` (the composition root) and ``Settings`` are imported on first use, so that
``import stratabase`` (and the CLI's ``--help``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from stratabase.app import Stratabase
    from stratabase.settings import Settings

__all__ = ["Settings", "Stratabase", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Stratabase":
        from stratabase.app import Stratabase

        return Stratabase
    if name == "Settings":
        from stratabase.settings import Settings

        return Settings
    raise AttributeError(f"module 'stratabase' has no attribute {name!r}")
