"""What a new password must not be: guessable before any argon2 work is spent on it.

Length alone lets ``aaaaaaaaaa``, ``1234567890`` and ten spaces through. Refused besides:
only whitespace; fewer than four different characters; a short pattern repeated
(``abcabcabca``, ``passwordpassword``); a run along the alphabet, the digits or a keyboard
row, or with any constant step (``abcdefghij``, ``0987654321``, ``qwertyuiop``, ``acegikmoqs``);
and the most common passwords (a list shipped in this package), also with digits or symbols
only added at either end (``monkey12345``); and (``personal_problem``) a password made mostly
of the account's own username or email. Checks are case-insensitive. The reasons never
quote the password.
"""

from __future__ import annotations

import functools
import itertools
import string
from importlib import resources

#: Fewer distinct characters than this makes a password trivially repetitive.
MIN_DISTINCT = 4
#: Runs read forwards and backwards, and as wrapping around (``7890123456``).
_RUNS = (
    string.digits,
    string.ascii_lowercase,
    "qwertyuiopasdfghjklzxcvbnm",
    "1234567890qwertyuiop",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
)
_PADDING = string.digits + string.punctuation + string.whitespace


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case (read once, on first use)."""
    text = resources.files("stratabase.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, or None if it may."""
    if not password.strip():
        return "the password cannot be only whitespace"
    lowered = password.lower()
    if len(set(lowered)) < MIN_DISTINCT:
        return f"the password needs at least {MIN_DISTINCT} different characters"
    if _is_repetition(lowered):
        return "the password is a short pattern repeated; choose something less predictable"
    if _is_run(lowered):
        return "the password is a sequence of consecutive characters or keyboard keys"
    common = common_passwords()
    if lowered in common or lowered.strip(_PADDING) in common:
        return "the password is too common (it is in a list of passwords that attackers try first)"
    return None


def personal_problem(password: str, **identifiers: str) -> str | None:
    """Why ``password`` is too close to the account's own ``username=``, ``email=``… (each
    of at least 4 characters making up half the password or more), or None."""
    lowered = password.lower()
    for name, value in identifiers.items():
        candidates = {value.lower(), value.lower().partition("@")[0]}
        for candidate in candidates:
            if len(candidate) >= 4 and candidate in lowered and 2 * len(candidate) >= len(lowered):
                return f"the password is too close to your {name}"
    return None


def _is_repetition(text: str) -> bool:
    """True if ``text`` is a shorter string repeated (the last repeat may be partial)."""
    # Knuth-Morris-Pratt failure function: the smallest period is len - border.
    border = [0] * len(text)
    k = 0
    for i in range(1, len(text)):
        while k and text[i] != text[k]:
            k = border[k - 1]
        if text[i] == text[k]:
            k += 1
        border[i] = k
    period = len(text) - border[-1] if text else 0
    return 0 < period <= len(text) // 2


def _is_run(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    if len(steps) == 1 and 0 < abs(steps.pop()) <= 3:
        return True
    for run in _RUNS:
        cycle = run * (len(text) // len(run) + 2)
        if text in cycle or text in cycle[::-1]:
            return True
    return False
