"""The new-password policy: what it refuses, why, and that it leaves real passwords alone."""

from __future__ import annotations

from importlib import resources

import pytest

from stratabase.auth.password_policy import common_passwords, password_problem, personal_problem
from stratabase.seed.people import DEMO_LOGINS, SHARED_PASSWORD


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("          ", "whitespace"),
        ("\t\n  \u3000    ", "whitespace"),
        ("aaaaaaaaaa", "different characters"),
        ("ababababab", "different characters"),
        ("abcabcabcabc", "different characters"),
        ("abcdabcdabcd", "repeated"),
        ("Summer!Summer!", "repeated"),
        ("1234567890", "sequence"),
        ("0123456789", "sequence"),
        ("7890123456", "sequence"),
        ("9876543210", "sequence"),
        ("ABCDEFGHIJKL", "sequence"),
        ("zyxwvutsrqpo", "sequence"),
        ("acegikmoqsu", "sequence"),
        ("qwertyuiop", "sequence"),
        ("poiuytrewq", "sequence"),
        ("asdfghjklzxc", "sequence"),
        ("password123", "common"),
        ("PASSWORD123", "common"),
        ("monkey12345", "common"),
        ("!!dragon2026", "common"),
        ("manchester", "common"),
        ("iloveyou!!!!", "common"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    problem = password_problem(password)
    assert problem is not None and reason in problem
    assert password.strip() == "" or password not in problem


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "Tr0ub4dor&3x-plus",
        "zebra crossing at noon",
        "ajd83-KD02!x",
        "4729105836",  # digits only, but no run and not a common one
        SHARED_PASSWORD,
        *(login[3] for login in DEMO_LOGINS),
    ],
)
def test_reasonable_passwords_pass(password: str) -> None:
    assert password_problem(password) is None


def test_the_common_list_ships_in_the_package() -> None:
    data = resources.files("stratabase.auth").joinpath("common_passwords.txt")
    assert data.is_file()
    words = common_passwords()
    assert 10_000 <= len(words) <= 12_000
    assert {"123456", "password", "qwertyuiop", "iloveyou"} <= words
    assert all(word == word.lower() and word.strip() == word for word in words)


def test_a_password_made_of_the_username_or_email_is_refused() -> None:
    who = {"username": "adalovelace", "email": "ada.lovelace@example.com"}
    assert (
        personal_problem("AdaLovelace2026", **who) == "the password is too close to your username"
    )
    assert personal_problem("ada.lovelace!!", **who) == "the password is too close to your email"
    # A short name, or a name that is a small part of a passphrase, is fine.
    assert personal_problem("ada is my best friend", username="ada", email="a@example.com") is None
    assert personal_problem("ada.lovelace wrote the first program", **who) is None
