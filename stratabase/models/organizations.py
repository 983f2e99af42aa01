"""Who belongs to an organization, who was invited, what a plan allows (P2.4, seed 003).

``organization_members`` is the source of truth for access to an organization and to
everything under it (projects, episodes, planning notes, agent memory): a user who is not a
member is told the organization does not exist. ``users.organization_id`` stays what it
was (a user's home organization, set by the seed); it grants nothing here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin
from stratabase.db.types import BigIntId, enum_column_type
from stratabase.enums import InvitationStatus, OrgRole, Plan

_PENDING = text("status = 'pending'")


class OrganizationMember(CreatedAtMixin, Base):
    """A user's membership of an organization, with its role."""

    __tablename__ = "organization_members"
    __table_args__ = (
        # "My organizations" walks a user's memberships by organization id.
        Index("ix_organization_members_user_id", "user_id", "organization_id"),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[OrgRole] = mapped_column(enum_column_type(OrgRole, "role"), default=OrgRole.MEMBER)


class OrganizationInvitation(IdMixin, CreatedAtMixin, Base):
    """An invitation by email: only the token's SHA-256 is stored; used once, then kept."""

    __tablename__ = "organization_invitations"
    __table_args__ = (
        # One pending invitation per address and organization: a new one revokes the old.
        Index(
            "uq_organization_invitations_pending",
            "organization_id",
            "email",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[OrgRole] = mapped_column(enum_column_type(OrgRole, "role"), default=OrgRole.MEMBER)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[InvitationStatus] = mapped_column(
        enum_column_type(InvitationStatus, "status"), default=InvitationStatus.PENDING
    )
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]


class PlanLimit(Base):
    """What a plan allows an organization: active projects ("limit projects, not
    frequency", seed 003) and the daily token quota a new organization starts with.

    A plan without a row has no project limit. Migration 0013 writes the defaults."""

    __tablename__ = "plan_limits"
    __table_args__ = (
        CheckConstraint("max_active_projects >= 0", name="max_active_projects_nonneg"),
        CheckConstraint("token_quota >= 0", name="token_quota_nonneg"),
    )

    plan: Mapped[Plan] = mapped_column(enum_column_type(Plan, "plan"), primary_key=True)
    max_active_projects: Mapped[int] = mapped_column(Integer)
    token_quota: Mapped[int] = mapped_column(BigInteger, default=0)


class PlanningNoteEpisode(CreatedAtMixin, Base):
    """A planning note attached to the episode it is about (at most one per note)."""

    __tablename__ = "planning_note_episodes"
    __table_args__ = (Index("ix_planning_note_episodes_episode_id", "episode_id"),)

    note_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("planning_notes.id", ondelete="CASCADE"), primary_key=True
    )
    episode_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("episodes.id", ondelete="CASCADE"))
