"""Engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    Select,
    String,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from app.core.errors import Invalid

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A ``StrEnum`` stored as its plain text value (no database enum type, no migration).

    Rows read back as members of the enum, so Python code compares and matches on members;
    a value the enum does not know fails loudly instead of travelling on as a bare string.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list | tuple):
        return False
    return any(_holds_nul(item) for item in value)


def refuse_nul_text(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    """PostgreSQL can neither store nor compare text holding a NUL character (its driver fails
    with a 500); SQLite can. Refuse such text on both, as the caller's mistake (422)."""
    if _holds_nul(parameters):
        raise Invalid(
            "Text holding a NUL character (\\0) can be neither stored nor searched for: remove it.",
            code="nul_character",
        )


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    event.listen(engine, "before_cursor_execute", refuse_nul_text)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver or network failure means "not healthy"
        return False
    return True


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for one request. Closing discards whatever was not committed, and leaves
    loaded objects readable (not expired) for error pages rendered afterwards."""
    session = factory()
    try:
        yield session
    finally:
        session.close()


Row = TypeVar("Row")


def newest_first_page(
    db: Session, statement: Select[tuple[Row]], id_column: Any, *, limit: int, offset: int
) -> tuple[list[Row], int]:
    """One page of a filtered listing, newest (highest id) first, with the total count."""
    total = db.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = db.scalars(statement.order_by(id_column.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def serialise_on(db: Session, column: Any, row_id: int) -> None:
    """Make concurrent writers of one row take turns, the same way on both databases.

    A no-op UPDATE takes the row lock on PostgreSQL and the database write lock on SQLite.
    SQLite only waits for that lock when it is the transaction's first statement, so any read
    transaction still open is ended first."""
    if db.get_bind().dialect.name == "sqlite" and db.in_transaction():
        db.rollback()
    db.execute(update(column.class_).where(column.class_.id == row_id).values({column.key: column}))


def begin_write(db: Session) -> None:
    """Start a unit of work that will write: on SQLite, take the database write lock first.

    SQLite waits (busy_timeout) for the write lock only when a transaction asks for it before
    reading; one that read first fails at once with "database is locked" when it writes. So
    unless the connection is in a transaction already (on SQLite only a write, a savepoint or
    this starts one), this begins one with BEGIN IMMEDIATE. Pending changes are kept. On
    PostgreSQL nothing is needed: row locks and constraints serialise the writers."""
    if db.get_bind().dialect.name != "sqlite":
        return
    connection = db.connection()
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
