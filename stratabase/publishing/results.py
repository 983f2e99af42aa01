"""What the publishing studio's services return: typed, frozen, ready to render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from stratabase.enums import (
    InvitationStatus,
    JobStatus,
    OrgRole,
    Plan,
    PlanningNoteStatus,
    ProjectStatus,
)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class OrganizationRead(_Result):
    """An organization as one of its members sees it, with the member's role."""

    id: int
    name: str
    slug: str
    plan: Plan
    token_quota: int
    role: OrgRole
    created_at: datetime


class MemberRead(_Result):
    """A member of an organization."""

    user_id: int
    username: str
    name: str
    role: OrgRole
    joined_at: datetime


class InvitationRead(_Result):
    """An invitation; ``expired`` is true once a pending one passed ``expires_at``."""

    id: int
    organization_id: int
    email: str
    role: OrgRole
    status: InvitationStatus
    expired: bool
    invited_by: int | None
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None


class InvitationIssued(_Result):
    """A new invitation and its token: answered once, only its hash is stored."""

    invitation: InvitationRead
    token: str


class ProjectRead(_Result):
    """A project of an organization."""

    id: int
    organization_id: int
    owner_id: int | None
    name: str
    description: str | None
    cadence: dict[str, Any] | None
    status: ProjectStatus
    created_at: datetime
    updated_at: datetime


class Slot(_Result):
    """One scheduled slot: the instant (UTC) and the wall-clock time it is where it runs."""

    at: datetime
    local: datetime


class ScheduleRead(_Result):
    """A project's next slots (none while paused, archived or without a cadence)."""

    project_id: int
    status: ProjectStatus
    timezone: str | None
    slots: list[Slot]


class JobRef(_Result):
    """The generation job of an episode while it is queued or running."""

    id: int
    status: JobStatus
    run_at: datetime
    attempts: int


class EpisodeRead(_Result):
    """An episode: its slot, state, generation attempts and errors, and (read one) its post.

    ``status``: ``published`` (has its post), ``generating`` (a job queued to run now or
    running), ``scheduled`` (a job queued for later), ``failed`` (errors, no job left),
    ``pending`` (nothing yet).
    """

    id: int
    project_id: int
    number: int
    scheduled_for: datetime
    status: str
    post_id: int | None
    generation_attempts: int
    generation_errors: list[Any]
    job: JobRef | None = None
    title: str | None = None
    content_blocks: list[dict[str, Any]] | None = None
    created_at: datetime


class GenerationRead(_Result):
    """What ``episodes:generate`` did: the slot's episode and its job (None once published).

    ``enqueued`` is false when the slot already had a job or a post (idempotent per slot).
    """

    episode: EpisodeRead
    job_id: int | None
    enqueued: bool


class NoteRead(_Result):
    """A planning note and the episode it is attached to, if any."""

    id: int
    project_id: int
    author_id: int | None
    body: str
    status: PlanningNoteStatus
    episode_id: int | None
    created_at: datetime
    updated_at: datetime


class MemoryRead(_Result):
    """An agent memory entry."""

    project_id: int
    kind: str
    key: str
    content: dict[str, Any]
    created_at: datetime
    updated_at: datetime
