"""Sign-in attempts, counted per client address and user name, and per client address.

Two budgets (ASVS 2.2.1). A name tried from one address first slows down, then is locked for
that address only; an address trying name after name is slowed down too, with a larger budget.
Nothing is counted by name alone, so a stranger's failures never hold back the owner signing
in from elsewhere. An attempt is counted *before* the password is checked, with the ledger rows
locked (the SQLite write lock, PostgreSQL row locks), so guesses sent in parallel cannot
outrun the throttle. A success clears its (address, name) count and gives back its own count on
the address, never the failures before it. Ledger keys are keyed digests: neither a name (it
may be a mistyped password) nor an address is stored, and unknown names are throttled exactly
like real ones. When the client address is unknown, every such caller shares one count per
name and there is no address budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import LoginFailures
from app.auth.rules import ADDRESS_BUDGET_FACTOR, LoginPolicy, address_bucket, describe_wait
from app.core.database import begin_write
from app.core.errors import TooManyRequests
from app.core.security import TokenDigest


@dataclass(frozen=True)
class Budget:
    """One ledger row an attempt is counted on, and the policy that row is held to."""

    key: str
    policy: LoginPolicy
    scope: str  # "name" (this name from this address) or "address" (any name from it)


@dataclass(frozen=True)
class LoginThrottle:
    digest: TokenDigest
    per_name: LoginPolicy  # one name from one client address
    per_address: LoginPolicy  # any names from one client address

    @classmethod
    def from_policy(cls, digest: TokenDigest, policy: LoginPolicy) -> LoginThrottle:
        return cls(digest, policy, policy.scaled(ADDRESS_BUDGET_FACTOR))

    def budgets(self, username: str, ip_address: str | None) -> list[Budget]:
        """The rows an attempt counts on, always in the same order (no deadlocks)."""
        source = address_bucket(ip_address)
        pair = Budget(
            self.digest(f"login:ip:{source or '?'}|name:{username}"), self.per_name, "name"
        )
        if source is None:
            return [pair]
        return [pair, Budget(self.digest(f"login:ip:{source}"), self.per_address, "address")]


@dataclass(frozen=True)
class _Refusal:
    scope: str
    locked: bool
    failures: int
    wait: timedelta


def claim_attempt(
    db: Session,
    throttle: LoginThrottle,
    username: str,
    ip_address: str | None,
    *,
    actor: Actor,
    now: datetime,
    **audit: object,
) -> None:
    """Count one attempt for this name from this address (committed), or refuse with 429."""
    begin_write(db)
    budgets = throttle.budgets(username, ip_address)
    rows = [_locked_row(db, budget.key, now) for budget in budgets]
    refusals = [
        refusal
        for budget, (failures, last_failure_at, _) in zip(budgets, rows, strict=True)
        if (refusal := _refusal(budget, failures, last_failure_at, now)) is not None
    ]
    if refusals:
        db.rollback()
        _refuse(db, actor, max(refusals, key=lambda refusal: refusal.wait), audit)
    for budget, (failures, last_failure_at, _) in zip(budgets, rows, strict=True):
        _count_failure(db, budget, failures, last_failure_at, now)
    if any(created for _, _, created in rows):
        _forget_quiet_rows(db, throttle, [budget.key for budget in budgets], now)
    db.commit()


def record_success(
    db: Session, throttle: LoginThrottle, username: str, ip_address: str | None
) -> None:
    """After the password proved right (in the caller's write transaction): clear the count of
    this name from this address, and give back this attempt's count on the address."""
    pair, *address = throttle.budgets(username, ip_address)
    db.execute(delete(LoginFailures).where(LoginFailures.name_digest == pair.key))
    for budget in address:
        db.execute(
            update(LoginFailures)
            .where(LoginFailures.name_digest == budget.key, LoginFailures.count > 0)
            .values(count=LoginFailures.count - 1)
            .execution_options(synchronize_session=False)
        )


def _locked_row(db: Session, key: str, now: datetime) -> tuple[int, datetime, bool]:
    """(failures, last failure, whether the row is new) of a ledger row, made if missing and
    locked until the transaction ends."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    created = db.execute(
        dialect.insert(LoginFailures)
        .values(name_digest=key, count=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=[LoginFailures.name_digest])
    )
    row = db.execute(
        select(LoginFailures.count, LoginFailures.last_failure_at)
        .where(LoginFailures.name_digest == key)
        .with_for_update()
    ).one()
    return row.count, row.last_failure_at, created.rowcount == 1


def _count_failure(
    db: Session, budget: Budget, failures: int, last_failure_at: datetime, now: datetime
) -> None:
    db.execute(
        update(LoginFailures)
        .where(LoginFailures.name_digest == budget.key)
        .values(
            count=budget.policy.count_after_failure(failures, last_failure_at, now),
            last_failure_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _refusal(
    budget: Budget, failures: int, last_failure_at: datetime, now: datetime
) -> _Refusal | None:
    wait = budget.policy.wait(failures, last_failure_at, now)
    if wait <= timedelta(0):
        return None
    return _Refusal(budget.scope, budget.policy.is_lockout(failures), failures, wait)


def _forget_quiet_rows(
    db: Session, throttle: LoginThrottle, keep: list[str], now: datetime
) -> None:
    """New rows are where unbounded growth would come from: forget long-quiet ones then."""
    quiet = 2 * max(throttle.per_name.lockout, throttle.per_address.lockout)
    db.execute(
        delete(LoginFailures).where(
            LoginFailures.last_failure_at < now - quiet, LoginFailures.name_digest.not_in(keep)
        )
    )


def _refuse(db: Session, actor: Actor, refusal: _Refusal, audit: dict) -> None:
    begin_write(db)
    record(
        db,
        actor,
        "login.locked" if refusal.locked else "login.throttled",
        failures=refusal.failures,
        throttled_by=refusal.scope,
        **audit,
    )
    db.commit()
    if refusal.scope == "address":
        what = "from your network address. Please wait"
    elif refusal.locked:
        what = "for this user name from your network address: it is locked there for now"
    else:
        what = "for this user name from your network address. Please wait"
    raise TooManyRequests(
        f"Too many failed sign-in attempts {what}; try again in {describe_wait(refusal.wait)}.",
        headers={"Retry-After": str(max(1, round(refusal.wait.total_seconds())))},
    )
