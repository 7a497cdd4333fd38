"""Request overhead of authentication, against a baseline measured in the same run.

    python -m bench.auth [--requests N]

Prints the median and 95th percentile latency of an unauthenticated health check (baseline),
an API call with a bearer token and a page with a cookie session, in-process on SQLite, plus
the cost of one password hash at the default Argon2 settings (paid at sign-in only).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.users import NewUser, create_user
from app.core import migrations
from app.core.config import Settings
from app.core.security import Passwords
from app.main import create_app
from bench.common import timed

PASSWORD = "a long timing password"


def summary(name: str, samples: list[float], baseline: float | None = None) -> str:
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    extra = f"  (+{median - baseline:.2f} ms over baseline)" if baseline is not None else ""
    return f"{name:<34} median {median:6.2f} ms   p95 {p95:6.2f} ms{extra}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(data_dir=Path(directory), secret_key="bench")
        migrations.upgrade(settings)
        app = create_app(settings)
        with app.state.session_factory() as db:
            new = NewUser("bench", "Bench", Role.ADMIN, PASSWORD)
            create_user(db, app.state.auth_kit, Actor(None, None, "bench"), new)
        with TestClient(app) as client:
            token = client.post(
                "/api/v1/auth/token", data={"username": "bench", "password": PASSWORD}
            ).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            page = client.get("/login")
            csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            client.post(
                "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf}
            )
            n = 100 if args.quick else args.requests
            for call in (lambda: client.get("/healthz"), lambda: client.get("/api/v1/me")):
                timed(call, 20)  # warm up
            baseline = timed(lambda: client.get("/healthz"), n)
            api = timed(lambda: client.get("/api/v1/me", headers=bearer), n)
            session_page = timed(lambda: client.get("/"), n)
        app.state.engine.dispose()
    base = statistics.median(baseline)
    print(f"requests per figure: {n} (in-process, SQLite)")
    print(summary("GET /healthz (baseline)", baseline))
    print(summary("GET /api/v1/me (bearer token)", api, base))
    print(summary("GET / (cookie session, page)", session_page, base))
    passwords = Passwords(Settings(secret_key="x"))
    hashing = timed(lambda: passwords.hash(PASSWORD), 5)
    print(f"{'Argon2id hash (default cost)':<34} median {statistics.median(hashing):6.1f} ms")


if __name__ == "__main__":
    main()
