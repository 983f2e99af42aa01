"""The change feed: a transactional outbox, one relay per process, topic subscriptions.

Writes stage events with :func:`append` (or the helpers in ``emit``); the commit writes
them in commit order. :class:`ChangeFeed` (``Stratabase.changes``) serves subscriptions:
replay from the outbox, then live, exactly once. See docs/changes.md.
"""

from stratabase.changes.feed import ChangeFeed, ChangePage, Resync, Subscription
from stratabase.changes.outbox import Change, append
from stratabase.changes.topics import Topics

__all__ = ["Change", "ChangeFeed", "ChangePage", "Resync", "Subscription", "Topics", "append"]
