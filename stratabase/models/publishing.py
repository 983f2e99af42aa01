"""Scheduled publishing (seed 003): projects with a cadence, episodes, notes, memories, chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, CreatedAtMixin, IdMixin, TimestampsMixin
from stratabase.db.types import BigIntId, enum_column_type
from stratabase.enums import ChatRole, PlanningNoteStatus, ProjectStatus


class Project(IdMixin, TimestampsMixin, Base):
    """A publishing project: what its episodes are about, and their cadence."""

    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_organization_id", "organization_id"),
        Index("ix_projects_owner_id", "owner_id"),
    )

    organization_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    owner_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    #: {"days": ["mon", "thu"], "time": "09:00", "timezone": "America/New_York"}
    cadence_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    memories: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[ProjectStatus] = mapped_column(
        enum_column_type(ProjectStatus, "status"), default=ProjectStatus.ACTIVE
    )


class Episode(IdMixin, CreatedAtMixin, Base):
    """A post of kind ``episode`` generated for one project slot."""

    __tablename__ = "episodes"
    __table_args__ = (
        UniqueConstraint("project_id", "scheduled_for"),
        CheckConstraint("generation_attempts >= 0", name="attempts_nonneg"),
    )

    project_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("projects.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("posts.id", ondelete="SET NULL"), unique=True
    )
    #: The cadence slot this episode fills.
    scheduled_for: Mapped[datetime]
    number: Mapped[int] = mapped_column(Integer, default=1)
    generation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    generation_errors: Mapped[list[Any]] = mapped_column(default=list)


class PlanningNote(IdMixin, TimestampsMixin, Base):
    """Feedback from a user that steers the next episodes."""

    __tablename__ = "planning_notes"
    __table_args__ = (Index("ix_planning_notes_project_id", "project_id", "created_at"),)

    project_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("projects.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[PlanningNoteStatus] = mapped_column(
        enum_column_type(PlanningNoteStatus, "status"), default=PlanningNoteStatus.OPEN
    )


class AgentMemory(IdMixin, TimestampsMixin, Base):
    """What a project's generator remembers between episodes, by kind and key."""

    __tablename__ = "agent_memories"
    __table_args__ = (UniqueConstraint("project_id", "kind", "key"),)

    project_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ChatSession(IdMixin, TimestampsMixin, Base):
    """A user's conversation with the generator, optionally about a project."""

    __tablename__ = "chat_sessions"
    __table_args__ = (Index("ix_chat_sessions_user_id", "user_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("projects.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200), default="")


class ChatMessage(IdMixin, CreatedAtMixin, Base):
    """One message of a conversation, with the tokens it cost."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_session_id", "session_id", "id"),
        CheckConstraint("tokens_in >= 0 AND tokens_out >= 0", name="tokens_nonneg"),
    )

    session_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("chat_sessions.id", ondelete="CASCADE")
    )
    role: Mapped[ChatRole] = mapped_column(enum_column_type(ChatRole, "role"))
    content: Mapped[str] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
