"""Who is calling: the signed-in user as services see it (no ORM object, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from stratabase.enums import Role, UserStatus
from stratabase.exceptions import PermissionDenied


@dataclass(frozen=True)
class Principal:
    """Who is calling, as services need it: id, role, status, and the session used."""

    user_id: int
    role: Role
    status: UserStatus
    session_id: int | None = None

    @property
    def is_moderator(self) -> bool:
        """Moderators and admins moderate."""
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        """Admins run the platform (jobs, mints, any payment)."""
        return self.role == Role.ADMIN

    @property
    def can_write(self) -> bool:
        """Only active accounts write; suspended ones still read."""
        return self.status == UserStatus.ACTIVE

    def require_writer(self) -> None:
        """Suspended accounts may read but not write."""
        if not self.can_write:
            raise PermissionDenied("your account is suspended: you cannot write")
