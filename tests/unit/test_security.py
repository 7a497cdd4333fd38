"""Password hashing and token digests."""

from __future__ import annotations

from app.core.config import Settings
from app.core.security import (
    Passwords,
    TokenDigest,
    generate_password,
    new_api_token,
    same_secret,
)

CHEAP = Settings(secret_key="k", argon2_time_cost=1, argon2_memory_kib=1024)


def test_argon2id_round_trip() -> None:
    passwords = Passwords(CHEAP)
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "Correct horse battery")
    assert not passwords.verify("not-a-hash", "x")


def test_unknown_user_never_verifies() -> None:
    assert not Passwords(CHEAP).verify(None, "anything at all")


def test_digests_are_keyed() -> None:
    token = new_api_token()
    assert token.startswith("mr_")
    assert TokenDigest(b"a")(token) != TokenDigest(b"b")(token)
    assert TokenDigest(b"a")(token) == TokenDigest(b"a")(token)
    assert token not in TokenDigest(b"a")(token)


def test_secret_comparison() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abc", "abd")
    assert not same_secret(None, "abc")
    assert not same_secret("", "")


def test_generated_passwords_are_random_and_typable() -> None:
    a, b = generate_password(), generate_password()
    assert a != b
    assert len(a) == 23
    assert set(a) <= set("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-")
