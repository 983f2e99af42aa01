"""Topics a client subscribes to, and who may see which event.

Each event is stored once, under its own topic (``post:17``, ``comments:17``, ``user:5``,
``me:5`` for a user's private events, ``jobs``, ``moderation``, ``trending``). A subscription
topic matches the stored ones it covers: ``posts`` every ``post:*`` event, ``category:3`` the
post events whose ``category_id`` is 3, ``trending`` likes and publications, ``me`` the
caller's ``me:<id>``. So an event reaches a client once even when several of its topics
match it.

Authorization is decided twice: when subscribing (``jobs`` needs an admin, ``moderation`` a
moderator, ``me`` a signed-in user) and for every event against the subscriber's principal
(``visible``): a ``me:<id>`` event only for user ``<id>``, a post event marked
``"public": false`` (a draft, a hidden post) only for its author and moderators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from stratabase.auth.principal import Principal
from stratabase.changes.outbox import Change
from stratabase.exceptions import InvalidInput, PermissionDenied

__all__ = ["MAX_TOPICS", "TOPIC_PATTERN", "SignInRequired", "Topics", "render", "visible"]

#: What a client may name (ids as 1-19 digits: they fit a bigint).
TOPIC_PATTERN = r"^(posts|trending|me|jobs|moderation|(post|comments|category|user):[0-9]{1,19})$"
#: Topics in one subscription.
MAX_TOPICS = 50

_TOPIC = re.compile(TOPIC_PATTERN)
#: Event types the ``trending`` topic carries (besides events stored under ``trending``).
TRENDING_TYPES = frozenset({"post.liked", "post.unliked", "post.published"})
#: Event types the ``moderation`` topic carries (besides events stored under ``moderation``).
MODERATION_TYPES = frozenset({"post.hidden"})


class SignInRequired(PermissionDenied):
    """This topic needs a signed-in caller."""


def _private_owner(topic: str) -> int | None:
    return int(topic[3:]) if topic.startswith("me:") else None


def visible(change: Change, principal: Principal | None) -> bool:
    """May ``principal`` (None: anonymous) see ``change`` at all?"""
    owner = _private_owner(change.topic)
    if owner is not None:
        return principal is not None and principal.user_id == owner
    if change.topic == "jobs":
        return principal is not None and principal.is_admin
    if change.topic == "moderation":
        return principal is not None and principal.is_moderator
    if change.payload.get("public", True) is False:
        return principal is not None and (
            principal.is_moderator or principal.user_id == change.payload.get("author_id")
        )
    return True


def render(change: Change) -> str:
    """The topic shown to the subscriber: a private ``me:<id>`` is shown as ``me``."""
    return "me" if change.topic.startswith("me:") else change.topic


@dataclass(frozen=True)
class Topics:
    """A validated subscription: topic names and the principal they were granted to."""

    names: frozenset[str]
    principal: Principal | None

    @classmethod
    def parse(cls, raw: str | Iterable[str], principal: Principal | None) -> Topics:
        """Validate names and rights; ``InvalidInput`` names the ``topics`` field."""
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        names = frozenset(name.strip() for name in items if name.strip())
        if not names:
            raise InvalidInput("name at least one topic", field="topics")
        if len(names) > MAX_TOPICS:
            raise InvalidInput(f"at most {MAX_TOPICS} topics", field="topics")
        for name in sorted(names):
            if not _TOPIC.fullmatch(name):
                raise InvalidInput(f"unknown topic {name[:120]!r}", field="topics")
        if "me" in names and principal is None:
            raise SignInRequired("the 'me' topic needs a signed-in caller")
        if "jobs" in names and not (principal is not None and principal.is_admin):
            raise PermissionDenied("the 'jobs' topic is for administrators")
        if "moderation" in names and not (principal is not None and principal.is_moderator):
            raise PermissionDenied("the 'moderation' topic is for moderators")
        return cls(names, principal)

    def admits(self, change: Change) -> bool:
        """Does this subscription cover ``change``, and may its principal see it?"""
        return visible(change, self.principal) and any(
            self._covers(name, change) for name in self.names
        )

    def _covers(self, name: str, change: Change) -> bool:
        topic = change.topic
        if name == topic:
            return True
        if name == "posts":
            return topic.startswith("post:")
        if name == "me":
            return self.principal is not None and topic == f"me:{self.principal.user_id}"
        if name == "trending":
            return change.type in TRENDING_TYPES
        if name == "moderation":
            return change.type in MODERATION_TYPES
        if name.startswith("category:"):
            return topic.startswith("post:") and str(change.payload.get("category_id")) == name[9:]
        return False
