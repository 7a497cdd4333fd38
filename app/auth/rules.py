"""Account rules as pure functions: user names, passwords and the failed-login policy."""

from __future__ import annotations

import ipaddress
import re
import threading
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from zxcvbn import zxcvbn

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
    return guessability_problem(password, user_inputs=(username, *CONTEXT_WORDS))


# zxcvbn scores 0-4; 3 means "safely unguessable" (about 10^8 guesses or more).
PASSWORD_SCORE_MIN = 3
# zxcvbn's own limit: its matching time grows steeply with length. Longer passwords are judged
# by their first 72 characters, which must be hard enough to guess on their own.
STRENGTH_CHECKED_CHARS = 72
CONTEXT_WORDS = ("mammoread", "mammography", "mammogram", "radiology")
PASSWORD_ADVICE = (
    "Choose a longer passphrase of several uncommon words, not a common password, name, "
    "date, keyboard row or sequence."
)
_WHOLE_PATTERN_WHY = {
    "dictionary": "it is a single common word, name or password.",
    "spatial": "it is a row of neighbouring keys.",
    "sequence": 'it is a sequence like "abc" or "6543".',
    "repeat": "it repeats a shorter pattern.",
    "date": "it is a date.",
    "regex": "it is a year.",
}
_zxcvbn_lock = threading.Lock()  # zxcvbn keeps each call's user inputs in a shared table


def guessability_problem(password: str, *, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why a password is too easy to guess, or None: zxcvbn's lists of common and breached
    passwords, names and words, keyboard rows, sequences, repeats and dates."""
    with _zxcvbn_lock:
        result = zxcvbn(password[:STRENGTH_CHECKED_CHARS], user_inputs=list(user_inputs))
    sequence = result["sequence"]
    whole = sequence[0]["pattern"] if len(sequence) == 1 else "bruteforce"
    if result["score"] >= PASSWORD_SCORE_MIN and whole == "bruteforce":
        return None
    warning = result["feedback"]["warning"]
    why = warning[:1].lower() + warning[1:] if warning else None
    why = why or _WHOLE_PATTERN_WHY.get(whole, "it would be found quickly by guessing.")
    return f"Password is too easy to guess: {why} {PASSWORD_ADVICE}"


@dataclass(frozen=True)
class LoginPolicy:
    """Failed logins first slow down (doubling waits), then lock (a name, for one client
    address) for a while."""

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

    def scaled(self, factor: int) -> LoginPolicy:
        """The same policy with ``factor`` times the budget (the same waits once spent)."""
        return replace(
            self,
            slowdown_after=self.slowdown_after * factor,
            lockout_after=self.lockout_after * factor,
        )


# One client address may try many names (a shared hospital gateway), but not without bound.
ADDRESS_BUDGET_FACTOR = 10
IPV6_NETWORK_PREFIX = 64  # one subscriber usually holds a whole /64


def address_bucket(ip_address: str | None) -> str | None:
    """The client a sign-in budget belongs to: the IPv4 address, the IPv6 /64 network (its
    holder can change the rest at will), or the address text as given when it is no IP."""
    if not ip_address:
        return None
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ip_address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_NETWORK_PREFIX}", strict=False))
    return str(address)


def describe_wait(wait: timedelta) -> str:
    seconds = max(1, round(wait.total_seconds()))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"
