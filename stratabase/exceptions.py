"""Every error Stratabase raises on purpose.

Callers catch one root and branch on the subclass; HTTP and CLI map each class to a status
or an exit code in exactly one place (``api/errors.py``, ``cli/main.py``).

    StratabaseError
    ├── ConfigError              a setting is missing or malformed
    ├── NotFound                 the thing asked for (or referred to) does not exist
    ├── ConstraintRefused        the database refused a write by a named constraint
    │   ├── AlreadyExists        a unique value is taken
    │   └── InvariantViolation   a CHECK constraint refused the write
    ├── Conflict                 the request contradicts the current state
    │   └── InsufficientFunds    a debit larger than the available balance
    ├── InvalidInput             the input is malformed (beyond what Pydantic can check)
    ├── PermissionDenied         the caller may not do this
    ├── LimitExceeded            a plan limit does not cover the request (HTTP 402)
    │   └── QuotaExceeded        a daily token quota does not cover it
    ├── MigrationError           the database schema is at a revision we do not know
    └── DatabaseUnavailable      the database did not answer, or retries ran out
        └── DatabaseReadOnly     the database refuses writes (read-only file or server)
"""

from __future__ import annotations


class StratabaseError(Exception):
    """Something went wrong in Stratabase."""

    #: A short machine-readable code, used as the problem ``type`` suffix over HTTP.
    code = "error"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        #: The input field at fault, when one is known.
        self.field = field
        super().__init__(self.message)


class ConfigError(StratabaseError):
    """A setting is missing or malformed."""

    code = "config"


class NotFound(StratabaseError):
    """The requested object does not exist."""

    code = "not-found"


class ConstraintRefused(StratabaseError):
    """The database refused a write by one of its constraints."""

    code = "constraint"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        constraint: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        #: Name of the constraint that refused the write (``uq_…``, ``ck_…``).
        self.constraint = constraint


class AlreadyExists(ConstraintRefused):
    """A value that must be unique is already taken."""

    code = "already-exists"


class Conflict(StratabaseError):
    """The request contradicts the current state of the data."""

    code = "conflict"


class InsufficientFunds(Conflict):
    """The account's available balance is smaller than the amount."""

    code = "insufficient-funds"


class InvariantViolation(ConstraintRefused):
    """The database refused a write that would break an invariant."""

    code = "invariant-violation"


class InvalidInput(StratabaseError):
    """The input is malformed."""

    code = "invalid-input"


class PermissionDenied(StratabaseError):
    """You are not allowed to do this."""

    code = "permission-denied"


class SignInRequired(StratabaseError):
    """Who you are is not known (no or an expired session): sign in and ask again."""

    code = "sign-in-required"


class LimitExceeded(StratabaseError):
    """The organization's plan does not allow this; the answer carries the numbers."""

    code = "limit-exceeded"

    def __init__(
        self, message: str | None = None, *, field: str | None = None, **numbers: int
    ) -> None:
        super().__init__(message, field=field)
        #: What the client needs to decide (e.g. ``limit`` and ``active``), sent as is.
        self.numbers = numbers


class QuotaExceeded(LimitExceeded):
    """The organization's daily token quota does not cover this request."""

    code = "quota-exceeded"

    def __init__(
        self, message: str | None = None, *, quota: int = 0, used: int = 0, requested: int = 0
    ) -> None:
        super().__init__(message, quota=quota, used=used, requested=requested)


class MigrationError(StratabaseError):
    """The database schema cannot be brought to the expected revision."""

    code = "migration"


class DatabaseUnavailable(StratabaseError):
    """The database did not answer in time."""

    code = "database-unavailable"


class DatabaseReadOnly(DatabaseUnavailable):
    """The database refuses writes: a read-only file or directory, or a read-only server."""

    code = "database-read-only"
