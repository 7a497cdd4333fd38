"""Account rules as pure functions: user names, passwords and the failed-login policy."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

USERNAME_MIN = 3
USERNAME_MAX = 64
DISPLAY_NAME_MAX = 120
PASSWORD_MAX = 256
_USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")


def normalise_username(raw: str) -> str:
    return raw.strip().lower()


def username_problem(username: str) -> str | None:
    """Why a (normalised) user name is not acceptable, or None."""
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return f"User name must be {USERNAME_MIN} to {USERNAME_MAX} characters long."
    if not _USERNAME_PATTERN.fullmatch(username):
        return (
            "User name may contain only letters a-z, digits, '.', '_' and '-', "
            "and must start with a letter or digit."
        )
    return None


def display_name_problem(display_name: str) -> str | None:
    if not display_name.strip():
        return "Display name must not be empty."
    if len(display_name) > DISPLAY_NAME_MAX:
        return f"Display name must be at most {DISPLAY_NAME_MAX} characters long."
    if any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co"} for char in display_name):
        return "Display name must not contain control or invisible characters."
    return None


def password_problem(password: str, *, username: str, min_length: int) -> str | None:
    if len(password) < min_length:
        return f"Password must be at least {min_length} characters long."
    if len(password) > PASSWORD_MAX:
        return f"Password must be at most {PASSWORD_MAX} characters long."
    if username and username in password.lower():
        return "Password must not contain the user name."
    if len(set(password)) < 4:
        return "Password must use at least four different characters."
    return None


@dataclass(frozen=True)
class LoginPolicy:
    """Failed logins first slow down (doubling waits), then lock the name for a while."""

    slowdown_after: int
    lockout_after: int
    lockout: timedelta

    def delay_after(self, failures: int) -> timedelta:
        """How long after the last failure the next attempt must wait."""
        if failures < self.slowdown_after:
            return timedelta(0)
        if failures >= self.lockout_after:
            return self.lockout
        seconds = 2 ** (failures - self.slowdown_after + 1)
        return min(timedelta(seconds=seconds), self.lockout)

    def wait(self, failures: int, last_failure_at: datetime | None, now: datetime) -> timedelta:
        """Time left before another attempt is considered; zero means go ahead."""
        if last_failure_at is None:
            return timedelta(0)
        remaining = last_failure_at + self.delay_after(failures) - now
        return max(remaining, timedelta(0))

    def count_after_failure(
        self, failures: int, last_failure_at: datetime | None, now: datetime
    ) -> int:
        """Failures long past (a full lockout period of quiet) are forgiven."""
        if last_failure_at is None or now - last_failure_at > self.lockout:
            return 1
        return failures + 1

    def is_lockout(self, failures: int) -> bool:
        return failures >= self.lockout_after


def describe_wait(wait: timedelta) -> str:
    seconds = max(1, round(wait.total_seconds()))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"
