"""Sign-up, sign-in and bearer sessions: argon2id passwords, opaque tokens stored hashed."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "password_policy",
    "passwords",
    "principal",
    "service",
    "tokens",
]
