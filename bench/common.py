"""Shared by the benchmarks: a scratch installation with real imported images."""

from __future__ import annotations

import io
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from app.audit.service import Actor
from app.core import migrations
from app.core.config import Settings
from app.core.database import make_engine, make_session_factory
from app.imaging.importer import ImportReport, Source, import_sources
from app.imaging.kit import ImagingKit
from app.imaging.states import ImportChannel
from app.imaging.synthetic import ExamOptions, synthetic_exam


def scratch(directory: Path, **overrides: object) -> tuple[Settings, ImagingKit]:
    settings = Settings(data_dir=directory, secret_key="bench", **overrides)
    migrations.upgrade(settings)
    return settings, ImagingKit.from_settings(settings)


def exam_sources(seed: int, options: ExamOptions) -> list[Source]:
    datasets, _ = synthetic_exam(seed, options)
    sources = []
    for ds in datasets:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        sources.append(Source(f"{ds.ImageLaterality}-{ds.ViewPosition}", lambda d=data: d))
    return sources


def run_import(settings: Settings, kit: ImagingKit, sources: list[Source]) -> ImportReport:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        report = import_sources(
            db, kit, sources, actor=Actor(None, None, "bench"), channel=ImportChannel.CLI
        )
    engine.dispose()
    return report


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


@contextmanager
def scratch_database(admin_url: str, purpose: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database next to ``admin_url``'s, named after ``purpose``,
    dropped afterwards whatever happens."""
    name = f"mammoread_bench_{purpose}_{secrets.token_hex(4)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def bench_settings(directory: str, database_url: str) -> Settings:
    """Settings of a scratch installation: cheap password hashes (setup speed only; sign-in
    is not what these benches measure)."""
    return Settings(
        data_dir=Path(directory) / "data",
        database_url=database_url,
        secret_key="bench",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )


def bearer(client, username: str, password: str) -> dict[str, str]:
    """The Authorization header of a bearer token for ``username`` (a TestClient or an httpx
    client of a served installation)."""
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
