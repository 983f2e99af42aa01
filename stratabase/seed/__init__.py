"""Themed seed data at any scale: themes (data files), a deterministic generator, bulk
loaders for both backends, and the dev-workflow use cases behind ``stratabase seed``,
``reset``, ``switch-theme``, ``clean`` and ``stats``.

``seed_if_empty(db, settings)`` is what ``stratabase up`` calls after migrating.
"""

from stratabase.seed.orchestrator import seed_if_empty

__all__ = ["seed_if_empty"]
