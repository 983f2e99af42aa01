"""Sign-up, sign-in and bearer sessions: argon2id passwords, opaque tokens stored hashed."""
