"""What a client sends to the publishing studio, validated at the edge (field named on error).

Limits stated here are the API's: an organization name ≤ 200 characters, a planning note
≤ 5,000, an agent memory ``kind`` ≤ 40 (``[a-z][a-z0-9_]*``), its ``key`` ≤ 200
(``[A-Za-z0-9._:-]``), its JSON ``content`` ≤ 64 KB (depth ≤ 16, ≤ 5,000 values; more is
422 naming ``content``, a body over the server's limit 413), and at most
:data:`MAX_MEMORIES` entries per project.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from stratabase.schemas.accounts import Email
from stratabase.schemas.common import Id, InputModel, JsonDocument, Slug, UpdateModel
from stratabase.schemas.publishing import CadenceConfig

#: Entries of agent memory one project may hold: every one goes into each generation brief.
MAX_MEMORIES = 500
#: Slots ``GET /v1/projects/{id}/schedule`` shows at most.
MAX_SLOTS = 50

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
NoteBody = Annotated[str, StringConstraints(min_length=1, max_length=5_000)]
MemoryKind = Annotated[str, StringConstraints(max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
MemoryKey = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
#: The roles an invitation or a role change may give (ownership moves by transfer only).
GrantableRole = Literal["admin", "member"]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a time zone offset, e.g. 2026-03-08T07:30:00Z")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class OrganizationCreate(InputModel):
    """A new organization; the caller becomes its owner. ``slug`` defaults from the name."""

    name: Name
    slug: Slug | None = None


class InvitationCreate(InputModel):
    """Invite an address to join with a role; the token is answered once, to pass on."""

    email: Email
    role: GrantableRole = "member"


class InvitationToken(InputModel):
    """The token of an invitation, as the invited person received it."""

    token: str = Field(min_length=10, max_length=256)


class RoleChange(InputModel):
    """A member's new role (ownership moves with a transfer, not here)."""

    role: GrantableRole


class OwnershipTransfer(InputModel):
    """The member who becomes the owner; the current owner becomes an admin."""

    user_id: Id


class ProjectCreate(InputModel):
    """A new project of an organization, active unless the plan's limit is reached."""

    organization_id: Id
    name: Name
    description: str | None = Field(default=None, max_length=5_000)
    cadence: CadenceConfig | None = None


class ProjectUpdate(UpdateModel):
    """A partial update; ``cadence: null`` removes the cadence (no more scheduling)."""

    nullable_fields = frozenset({"description", "cadence"})

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5_000)
    cadence: CadenceConfig | None = None


class GenerateRequest(InputModel):
    """Which slot to generate now; by default the project's next cadence slot."""

    scheduled_for: AwareDatetime | None = None


class NoteCreate(InputModel):
    """A planning note: what the next episodes should (not) do."""

    body: NoteBody


class NoteResolve(InputModel):
    """Close a note by hand: taken into account, or dismissed."""

    resolution: Literal["applied", "dismissed"] = "dismissed"


class NoteAttach(InputModel):
    """The episode of the same project a note is about."""

    episode_id: Id


class MemoryWrite(InputModel):
    """An agent memory entry's JSON content (≤ 64 KB)."""

    content: JsonDocument
