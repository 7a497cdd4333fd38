"""The account rules, tested directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.auth.rules import (
    LoginPolicy,
    address_bucket,
    describe_wait,
    display_name_problem,
    guessability_problem,
    normalise_username,
    password_problem,
    username_problem,
)

POLICY = LoginPolicy(slowdown_after=3, lockout_after=10, lockout=timedelta(minutes=15))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("name", ["abc", "dr.nguyen", "r_01", "a-b", "x" * 64, "007"])
def test_good_usernames(name: str) -> None:
    assert username_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "3 to 64"),
        ("x" * 65, "3 to 64"),
        ("<script>", "only letters"),
        ("robert'); drop table users;--", "only letters"),
        ("nguyễn", "only letters"),
        ("a b", "only letters"),
        (".hidden", "start with"),
        ("a\u200bb", "only letters"),
    ],
)
def test_bad_usernames_say_why(name: str, why: str) -> None:
    problem = username_problem(name)
    assert problem is not None
    assert why in problem


def test_usernames_are_case_insensitive() -> None:
    assert normalise_username("  Dr.Nguyen ") == "dr.nguyen"


@given(st.text(max_size=80))
def test_accepted_usernames_are_plain_ascii(raw: str) -> None:
    name = normalise_username(raw)
    if username_problem(name) is None:
        assert name.isascii()
        assert name == name.strip().lower()
        assert 3 <= len(name) <= 64


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Dr. Nguyễn Thị Hà", True),
        ("", False),
        ("   ", False),
        ("a\x00b", False),
        ("x\u202eevil", False),
        ("y" * 121, False),
        ("<b>bold</b>", True),
    ],
)
def test_display_names(name: str, ok: bool) -> None:
    assert (display_name_problem(name) is None) is ok


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short", "at least 10"),
        ("x" * 300, "at most"),
        ("my-reader1-pass", "user name"),
        ("aaaaaaaaaaaa", "four different"),
    ],
)
def test_bad_passwords(password: str, fragment: str) -> None:
    problem = password_problem(password, username="reader1", min_length=10)
    assert problem is not None
    assert fragment in problem


def test_good_password() -> None:
    assert password_problem("correct horse battery", username="reader1", min_length=10) is None


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password12", "common password"),
        ("Password123", "common password"),
        ("1234567890", "common password"),
        ("qwertyuiop", "common password"),
        ("zxcvbnm,./", "keys"),
        ("abcdefghijk", "sequence"),
        ("radiologist1", "guess"),
        ("January2025!", "guess"),
        ("mammoread2026", "guess"),
        ("Tr0ub4dor&3Tr0ub4dor&3", "repeats"),
    ],
)
def test_easily_guessed_passwords_are_refused_saying_why_and_what_to_do(
    password: str, why: str
) -> None:
    problem = password_problem(password, username="reader1", min_length=10)
    assert problem is not None
    assert problem.startswith("Password is too easy to guess: ")
    assert why in problem
    assert "passphrase of several uncommon words" in problem


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "violet kayak under 9 lanterns",
        "Qm7-xT2p-Lw9R-c4Hz",
        ("violet kayak under 9 lanterns " * 9)[:250],
    ],
)
def test_hard_passwords_pass(password: str) -> None:
    assert password_problem(password, username="reader1", min_length=10) is None


def test_the_user_name_counts_as_a_known_word() -> None:
    assert guessability_problem("dr.nguyen2024") is None
    assert guessability_problem("dr.nguyen2024", user_inputs=("dr.nguyen",)) is not None


def test_only_the_first_72_characters_are_judged() -> None:
    assert guessability_problem("password" * 9 + "violet kayak under 9 lanterns") is not None
    assert guessability_problem("violet kayak under 9 lanterns" * 3 + "1234") is None


def test_first_failures_cost_nothing() -> None:
    for failures in range(POLICY.slowdown_after):
        assert POLICY.wait(failures, T0, T0) == timedelta(0)


def test_slowdown_then_lockout() -> None:
    assert POLICY.delay_after(3) == timedelta(seconds=2)
    assert POLICY.delay_after(4) == timedelta(seconds=4)
    assert POLICY.delay_after(9) == timedelta(seconds=128)
    assert POLICY.delay_after(10) == timedelta(minutes=15)
    assert POLICY.is_lockout(10)
    assert not POLICY.is_lockout(9)


@given(st.integers(0, 1000), st.integers(0, 1000))
def test_delay_never_shrinks_as_failures_grow(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert POLICY.delay_after(low) <= POLICY.delay_after(high) <= POLICY.lockout


@given(st.integers(0, 50), st.integers(0, 3600))
def test_wait_counts_down_to_zero(failures: int, seconds_later: int) -> None:
    now = T0 + timedelta(seconds=seconds_later)
    wait = POLICY.wait(failures, T0, now)
    assert timedelta(0) <= wait <= POLICY.delay_after(failures)
    assert wait == max(timedelta(0), POLICY.delay_after(failures) - (now - T0))


def test_old_failures_are_forgiven() -> None:
    assert POLICY.count_after_failure(7, T0, T0 + timedelta(minutes=1)) == 8
    assert POLICY.count_after_failure(7, T0, T0 + timedelta(minutes=16)) == 1
    assert POLICY.count_after_failure(0, None, T0) == 1


def test_waits_read_naturally() -> None:
    assert describe_wait(timedelta(seconds=2)) == "2 seconds"
    assert describe_wait(timedelta(minutes=15)) == "15 minutes"


def test_a_scaled_policy_has_a_larger_budget_and_the_same_waits() -> None:
    wide = POLICY.scaled(10)
    assert (wide.slowdown_after, wide.lockout_after) == (30, 100)
    assert wide.delay_after(29) == timedelta(0)
    assert wide.delay_after(30) == timedelta(seconds=2)
    assert wide.delay_after(100) == wide.lockout == POLICY.lockout


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
        (None, None),
        ("", None),
    ],
)
def test_address_buckets(address: str | None, bucket: str | None) -> None:
    assert address_bucket(address) == bucket
