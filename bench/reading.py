"""Twenty readers at once against PostgreSQL: next case, five draft saves, submit.

    python -m bench.reading [--quick] [--studies N] [--workers W] [--think-ms MS] [--timeout S]

Setup (not timed): a scratch PostgreSQL database ``mammoread_bench_reading_<random>`` (dropped
at the end, also on failure), a data directory in a temporary folder, an admin, 20 readers and
2 arbiters (Argon2id at time cost 1 and 1 MiB for setup speed: sign-in is not measured), N
synthetic four-view exams (256x208) imported, one project with balanced assignment (two readers
per study). The server is ``mammoread serve --workers 2`` (production's default worker count)
in a subprocess on a free loopback port, with the same settings.

Load: 20 reader threads, each with its own HTTP connection and bearer token, loop
GET next -> GET task -> 5 x PUT draft (each on the version the previous save returned; the label
changes every time) -> POST submit, until their worklist is empty (404 worklist_empty). Readers
0, 3 and 6 of every ten (30%) answer BI-RADS 4 with a Mass box, the others BI-RADS 1 density B
with no box; balanced assignment pairs readers 0-1, 2-3, ..., so 3 pairs in 5 disagree and about
60% of the studies go to arbitration. The 2 arbiters work those as they arrive (they poll their
worklist every 0.2 s while readers are busy; the empty polls are not counted); their requests
count in the same figures, but for their submits, shown apart.
With --think-ms each client pauses that long on average (0.5x to 1.5x, not timed) before every
request: the issue's scenario is back to back (0), which keeps 20 requests in flight all along.

Figures: latency on loopback (client-side, perf_counter around each request), p50/p95/max per
operation, after GET /healthz under the same 20-thread concurrency measured just before
(baseline; first every client warms up, not timed: 5 health checks, then a GET next and a
GET tasks, which change nothing); throughput; CPU spent during the load by the clients (this
process), the server's processes and the database's PostgreSQL backends (from /proc; a backend
that ended during the load is missed). Then, checked in the database: lost saves (a submitted
task whose version is not 1 + saves + submit, or whose stored draft or submitted read is not
the label sent), studies left in "reading" with both reads in, deadlocks and sessions opened
(pg_stat_database), lock waits (pg_stat_activity sampled every 20 ms) and 5xx responses and
tracebacks in the server log.
Targets: p95 <= 50 ms for every operation, zero errors, zero lost saves.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.service import AuthKit
from app.auth.users import NewUser, create_user
from app.core import migrations
from app.core.config import Settings
from app.core.database import make_engine, make_session_factory
from app.imaging.kit import ImagingKit
from app.imaging.synthetic import ExamOptions
from app.reading import service
from app.reading.models import ProjectStudy, ReadSubmission, ReadTask
from app.reading.states import Pool
from bench.common import bench_settings, exam_sources, run_import, scratch_database

READERS = 20
ARBITERS = 2
TARGET_MS = 50.0
PASSWORD = "a long benchmark password"
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
POLL_SECONDS = 0.2
NEXT = "/api/v1/reading/next"
OPERATIONS = (
    ("next", "GET  /api/v1/reading/next"),
    ("task", "GET  /api/v1/reading/tasks/{id}"),
    ("draft", "PUT  /api/v1/reading/tasks/{id}/draft"),
    ("submit", "POST /api/v1/reading/tasks/{id}/submit"),
    ("arbitrate", "POST .../submit (arbitrations)"),
)


# --- the scratch installation ---------------------------------------------------------------


@dataclass
class Installation:
    project_id: int
    readers: list[str]
    arbiters: list[str]
    studies: int
    reads: int


def install(settings: Settings, studies: int) -> Installation:
    migrations.upgrade(settings)
    sources = [
        s for seed in range(studies) for s in exam_sources(seed, ExamOptions(rows=256, columns=208))
    ]
    report = run_import(settings, ImagingKit.from_settings(settings), sources)
    study_ids = sorted({o.study_id for o in report.outcomes if o.status == "imported"})
    assert len(study_ids) == studies, report.summary()
    kit = AuthKit.from_settings(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            cli = Actor(None, None, "bench")
            admin, _ = create_user(db, kit, cli, account("admin", Role.ADMIN))
            actor = Actor(admin, "127.0.0.1")
            readers = [f"reader{i:02d}" for i in range(READERS)]
            arbiters = [f"arbiter{i}" for i in range(ARBITERS)]
            ids = {n: create_user(db, kit, cli, account(n, Role.READER))[0].id for n in readers}
            arb_ids = [create_user(db, kit, cli, account(n, Role.READER))[0].id for n in arbiters]
            project = service.create_project(db, actor, service.NewProject("Bench reading"))
            service.set_pool(db, actor, project, Pool.READERS, [ids[n] for n in readers])
            service.set_pool(db, actor, project, Pool.ARBITERS, arb_ids)
            service.add_studies(db, actor, project, study_ids)
            service.assign_balanced(db, actor, project)
            reads = db.scalar(select(func.count()).select_from(ReadTask)) or 0
            return Installation(project.id, readers, arbiters, studies, reads)
    finally:
        engine.dispose()


def account(name: str, role: Role) -> NewUser:
    return NewUser(name, name.title(), role, PASSWORD, must_change_password=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(settings: Settings, log_path: Path, workers: int) -> Iterator[tuple[str, int]]:
    """``mammoread serve`` in a child process (its own session), stopped by its id."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMMOREAD_")}
    env.update(
        MAMMOREAD_DATA_DIR=str(settings.data_dir),
        MAMMOREAD_DATABASE_URL=settings.resolved_database_url,
        MAMMOREAD_SECRET_KEY="bench",
        MAMMOREAD_ARGON2_TIME_COST=str(settings.argon2_time_cost),
        MAMMOREAD_ARGON2_MEMORY_KIB=str(settings.argon2_memory_kib),
    )
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, child)
        yield base, child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)


def wait_until_up(base: str, child: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with status {child.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz within a minute")


# --- the simulated readers ------------------------------------------------------------------


@dataclass
class Done:
    """One task as the client left it: what the database must now hold."""

    task_id: int
    first_version: int
    saves: int
    label: dict[str, Any]
    submitted: bool


@dataclass
class Client:
    name: str
    http: httpx.Client
    calls: list[tuple[str, float, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: list[Done] = field(default_factory=list)
    think: float = 0.0  # mean seconds of reading before each request (not timed)
    jitter: random.Random = field(default_factory=random.Random)

    def request(self, op: str, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        if self.think:  # 0.5x to 1.5x, so that the readers do not move in lockstep
            time.sleep(self.think * self.jitter.uniform(0.5, 1.5))
        start = time.perf_counter()
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.calls.append((op, (time.perf_counter() - start) * 1000, 0))
            self.errors.append(f"{self.name} {method} {url}: {error!r}")
            return 0, None
        self.calls.append((op, (time.perf_counter() - start) * 1000, response.status_code))
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text[:200]
        return response.status_code, body

    def fail(self, method: str, url: str, status: int, body: Any) -> None:
        self.errors.append(f"{self.name} {method} {url}: {status} {str(body)[:300]}")


def error_code(body: Any) -> str | None:
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def labels(image_id: str, suspicious: bool) -> list[dict[str, Any]]:
    """The five saves of one read, the last one also submitted; each changes the label."""

    def label(right: tuple, left: tuple, boxes: list, note: str = "") -> dict[str, Any]:
        breasts = {"R": dict(zip(("birads", "density"), right, strict=True))}
        breasts["L"] = dict(zip(("birads", "density"), left, strict=True))
        return {"breasts": breasts, "boxes": boxes, "note": note}

    mass = {
        "id": "b1",
        "image_id": image_id,
        "xmin": 40.5,
        "ymin": 60.0,
        "xmax": 90.25,
        "ymax": 120.0,
        "categories": ["Mass"],
        "birads": 4,
    }
    if suspicious:
        final = label((4, "B"), (1, "B"), [mass], "suspicious mass, right")
    else:
        final = label((1, "B"), (1, "B"), [], "normal")
    return [
        label((1, None), (None, None), []),  # a first BI-RADS
        label((1, "B"), (1, "B"), []),  # densities, the other breast
        label((1, "B"), (1, "B"), [mass]),  # a box (a live hint: BI-RADS 1 with a finding)
        label((4, "B"), (1, "B"), [mass]),  # the BI-RADS changed to fit it
        final,
    ]


def read_one(client: Client, task_id: int, suspicious: bool, submit_op: str) -> bool:
    url = f"/api/v1/reading/tasks/{task_id}"
    status, detail = client.request("task", "GET", url)
    if status != 200:
        client.fail("GET", url, status, detail)
        return False
    right = [i["image_id"] for i in detail["images"] if i["laterality"] == "R"]
    steps = labels(right[0] if right else "none", suspicious)
    version = first = detail["version"]
    saves = 0
    for step in steps:
        status, body = client.request(
            "draft", "PUT", f"{url}/draft", json={"label": step, "version": version}
        )
        if status != 200:
            client.fail("PUT", f"{url}/draft", status, body)
            return False
        version, saves = body["version"], saves + 1
    status, body = client.request(
        submit_op, "POST", f"{url}/submit", json={"label": steps[-1], "version": version}
    )
    ok = status == 200 and not body["repeated"]
    client.done.append(Done(task_id, first, saves, steps[-1], ok))
    if not ok:
        client.fail("POST", f"{url}/submit", status, body)
    return ok


def work(
    client: Client,
    suspicious: bool,
    arbiter: bool,
    readers_done: threading.Event,
    deadline: float,
    limit: int,
) -> None:
    """Read until the worklist is empty; stop at the first error, the time or the task limit."""
    try:
        read_all(client, suspicious, arbiter, readers_done, deadline, limit)
    except Exception as error:  # a bug here must show as an error, not as a quiet thread
        client.errors.append(f"{client.name}: {error!r}")


def read_all(
    client: Client,
    suspicious: bool,
    arbiter: bool,
    readers_done: threading.Event,
    deadline: float,
    limit: int,
) -> None:
    tasks = 0
    while True:
        if time.monotonic() > deadline:
            client.errors.append(f"{client.name}: stopped at the time limit")
            return
        status, body = client.request("next", "GET", NEXT)
        if status == 404 and error_code(body) == "worklist_empty":
            client.calls.pop()  # the expected end of the loop (or an arbiter's empty poll)
            if arbiter and not readers_done.is_set():
                time.sleep(POLL_SECONDS)
                continue
            return
        if status != 200:
            client.fail("GET", NEXT, status, body)
            return
        if tasks == limit:  # a task handed out twice would loop forever
            client.errors.append(f"{client.name}: more than {limit} tasks, task {body['id']}")
            return
        tasks += 1
        if not read_one(client, body["id"], suspicious, "arbitrate" if arbiter else "submit"):
            return


def suspicious_reader(index: int) -> bool:
    return index % 10 in (0, 3, 6)  # 30% of the readers


def healthz_baseline(clients: list[Client], repeats: int) -> list[float]:
    """GET /healthz from every reader thread at once, as many times each."""
    samples: list[float] = []
    barrier = threading.Barrier(len(clients))

    def run(client: Client) -> None:
        barrier.wait()
        for _ in range(repeats):
            start = time.perf_counter()
            response = client.http.get("/healthz")
            samples.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                client.fail("GET", "/healthz", response.status_code, response.text)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


class LockWatch:
    """Samples pg_stat_activity for this database's sessions waiting on a lock."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.database = database
        self.samples = 0
        self.waiting_samples = 0
        self.queries: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        query = text(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_activity "
            "WHERE datname = :db AND wait_event_type = 'Lock'"
        )
        with self.engine.connect() as connection:
            while not self._stop.wait(0.02):
                rows = connection.execute(query, {"db": self.database}).scalars().all()
                self.samples += 1
                self.waiting_samples += bool(rows)
                self.queries.update(rows)

    def backends(self) -> list[int]:
        with self.engine.connect() as connection:
            sql = text("SELECT pid FROM pg_stat_activity WHERE datname = :db")
            return list(connection.execute(sql, {"db": self.database}).scalars())

    def counters(self) -> tuple[int, int]:
        """Deadlocks and sessions opened so far (current once the sessions have ended)."""
        with self.engine.connect() as connection:
            sql = text("SELECT deadlocks, sessions FROM pg_stat_database WHERE datname = :db")
            deadlocks, sessions = connection.execute(sql, {"db": self.database}).one()
            return deadlocks, sessions


def process_cpu(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds (user + system) so far of each live process, from /proc (Linux)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def group_members(group: int) -> list[int]:
    members = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.getpgid(int(name)) == group:
                members.append(int(name))
        except OSError:
            continue
    return members


CpuSnapshot = tuple[float, dict[int, float], dict[int, float]]


def cpu_now(group: int, watch: LockWatch) -> CpuSnapshot:
    """This process (the clients), the server's process group, the database's backends."""
    return time.process_time(), process_cpu(group_members(group)), process_cpu(watch.backends())


def cpu_spent(before: CpuSnapshot, after: CpuSnapshot) -> list[float]:
    spent = [after[0] - before[0]]
    for old, new in ((before[1], after[1]), (before[2], after[2])):
        spent.append(sum(seconds - old.get(pid, 0.0) for pid, seconds in new.items()))
    return spent


# --- checking and reporting -----------------------------------------------------------------


@dataclass
class Check:
    lost: list[str]
    open_reads: int
    by_status: Counter[str]
    stuck: list[int]
    stuck_gaps_ms: list[float]  # between the two reads' submissions, for each stuck study
    arbitrations: int
    arbitrations_open: int


def check(database_url: str, done: list[Done]) -> Check:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as db:
            tasks = {t.id: t for t in db.scalars(select(ReadTask))}
            submissions = {s.task_id: s for s in db.scalars(select(ReadSubmission))}
            studies = list(db.scalars(select(ProjectStudy)))
    finally:
        engine.dispose()
    lost = []
    for item in done:
        task, stored = tasks[item.task_id], submissions.get(item.task_id)
        expected = item.first_version + item.saves + int(item.submitted)
        problems = [
            f"version {task.version} != {expected}" if task.version != expected else "",
            "draft differs" if task.draft != item.label else "",
            "no submitted read" if item.submitted and stored is None else "",
            "submitted read differs" if stored is not None and stored.label != item.label else "",
        ]
        if any(problems):
            lost.append(f"task {item.task_id}: {', '.join(p for p in problems if p)}")
    reads = Counter(s.project_study_id for s in submissions.values() if s.kind == "read")
    stuck = [s.id for s in studies if s.status == "reading" and reads[s.id] >= 2]
    gaps = []
    for study in stuck:
        times = sorted(s.submitted_at for s in submissions.values() if s.project_study_id == study)
        gaps.append((times[-1] - times[0]).total_seconds() * 1000)
    arbitrations = [t for t in tasks.values() if t.kind == "arbitrate"]
    return Check(
        lost=lost,
        open_reads=sum(t.kind == "read" and t.status != "submitted" for t in tasks.values()),
        by_status=Counter(s.status for s in studies),
        stuck=stuck,
        stuck_gaps_ms=gaps,
        arbitrations=len(arbitrations),
        arbitrations_open=sum(t.status != "submitted" for t in arbitrations),
    )


def p95(samples: list[float]) -> float:
    return (
        statistics.quantiles(samples, n=20, method="inclusive")[18]
        if len(samples) > 1
        else samples[0]
    )


def figure(name: str, samples: list[float], target: bool = True) -> str:
    line = (
        f"{name:<42} p50 {statistics.median(samples):6.1f} ms   p95 {p95(samples):6.1f} ms   "
        f"max {max(samples):6.1f} ms   n {len(samples):5d}"
    )
    if not target:
        return line
    verdict = "met" if p95(samples) <= TARGET_MS else "NOT MET"
    return f"{line}   p95 <= {TARGET_MS:.0f} ms: {verdict}"


def server_log_problems(log_path: Path) -> tuple[int, int, str]:
    """Tracebacks and 5xx responses in the server's log, and the first traceback."""
    log = log_path.read_text(errors="replace")
    server_errors = len(re.findall(r'HTTP/1\.1" 5\d\d', log))
    tracebacks = log.count("Traceback (most recent call last)")
    first = ""
    if tracebacks:
        start = log.index("Traceback (most recent call last)")
        first = "\n".join(log[start:].splitlines()[:60])
    return tracebacks, server_errors, first


def run(args: argparse.Namespace) -> None:
    studies = 10 if args.quick else args.studies
    with (
        tempfile.TemporaryDirectory() as directory,
        scratch_database(args.database_url, "reading") as url,
    ):
        settings = bench_settings(directory, url)
        started = time.perf_counter()
        setup = install(settings, studies)
        version = server_version(args.database_url)
        database = make_url(url).database
        assert database is not None
        print(
            f"scratch database {database} on PostgreSQL {version} (127.0.0.1), "
            f"setup in {time.perf_counter() - started:.1f} s:"
        )
        print(
            f"  {setup.studies} studies (synthetic 4-view exams, 256x208), {setup.reads} reads "
            f"assigned (balanced) to {READERS} readers, {ARBITERS} arbiters; Argon2id at "
            "time cost 1, 1 MiB (setup speed only)"
        )
        log_path = Path(directory) / "server.log"
        watch = LockWatch(args.database_url, database)
        try:
            _, sessions_before = watch.counters()
            with server(settings, log_path, args.workers) as (base, group):
                print(f"  server: mammoread serve --workers {args.workers}, subprocess on {base}")
                result = load(args, setup, base, group, watch)
            deadlocks, sessions = watch.counters()  # once the server's sessions have ended
        finally:
            watch.engine.dispose()
        outcome = check(url, [d for c in result.clients for d in c.done])
        print_figures(setup, result, outcome)
        tracebacks, server_errors, first = server_log_problems(log_path)
        print(
            f"server side: {server_errors} responses 5xx and {tracebacks} tracebacks in its log; "
            f"PostgreSQL: {deadlocks} deadlocks, {sessions - sessions_before} sessions opened by "
            f"the server, sessions waiting on a lock in {watch.waiting_samples} of "
            f"{watch.samples} samples"
        )
        for query, count in watch.queries.most_common(3):
            print(f"  waiting on a lock ({count}x): {query}")
        if first:
            print(f"first traceback in the server log:\n{first}")


def server_version(admin_url: str) -> str:
    engine = create_engine(admin_url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar_one()).split()[0]
    finally:
        engine.dispose()


def sign_in(base: str, names: list[str], think: float) -> list[Client]:
    clients = []
    for name in names:
        response = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": name, "password": PASSWORD}, timeout=30
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        http = httpx.Client(base_url=base, headers=headers, timeout=30)
        clients.append(Client(name, http, think=think, jitter=random.Random(name)))
    return clients


@dataclass
class Result:
    clients: list[Client]
    baseline: list[float]
    reading_seconds: float
    seconds: float
    cpu: list[float]  # seconds of CPU during the load: clients, server, PostgreSQL backends
    think_ms: float


def load(
    args: argparse.Namespace, setup: Installation, base: str, group: int, watch: LockWatch
) -> Result:
    readers = sign_in(base, setup.readers, args.think_ms / 1000)
    arbiters = sign_in(base, setup.arbiters, args.think_ms / 1000)
    everyone = readers + arbiters
    try:
        healthz_baseline(readers, 5)  # warm up: connections, worker pools
        for client in readers:  # and the reading routes, with requests that change nothing
            for path in (NEXT, "/api/v1/reading/tasks"):
                client.http.get(path).raise_for_status()
        baseline = healthz_baseline(readers, 25 if args.quick else 50)
        readers_done = threading.Event()
        deadline = time.monotonic() + args.timeout
        threads = [
            threading.Thread(
                target=work,
                args=(c, suspicious_reader(i), False, readers_done, deadline, setup.studies),
            )
            for i, c in enumerate(readers)
        ]
        threads += [
            threading.Thread(
                target=work, args=(c, False, True, readers_done, deadline, setup.studies)
            )
            for c in arbiters
        ]
        with watch:
            cpu_before = cpu_now(group, watch)
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads[:READERS]:
                thread.join()
            reading_seconds = time.perf_counter() - started
            readers_done.set()
            for thread in threads[READERS:]:
                thread.join()
            seconds = time.perf_counter() - started
            cpu = cpu_spent(cpu_before, cpu_now(group, watch))
    finally:
        for client in everyone:
            client.http.close()
    return Result(everyone, baseline, reading_seconds, seconds, cpu, args.think_ms)


def print_figures(setup: Installation, result: Result, outcome: Check) -> None:
    clients, baseline = result.clients, result.baseline
    reading_seconds, seconds = result.reading_seconds, result.seconds
    calls = [call for c in clients for call in c.calls]
    think = f", each pausing {result.think_ms:.0f} ms before a request" if result.think_ms else ""
    print(
        f"latency on loopback, client-side, {READERS} readers + {ARBITERS} arbiters at once{think}"
    )
    print(figure("GET  /healthz (baseline, 20 threads)", baseline, target=False))
    for op, name in OPERATIONS:
        samples = [ms for o, ms, status in calls if o == op and 200 <= status < 300]
        if samples:
            print(figure(name, samples))
    reads = sum(d.submitted for c in clients[:READERS] for d in c.done)
    requests = len(calls)
    print(
        f"throughput: {reads} of {setup.reads} reads submitted in {reading_seconds:.1f} s "
        f"({reads / reading_seconds:.1f} reads/s); {requests} requests in {seconds:.1f} s "
        f"({requests / seconds:.0f}/s)"
    )
    client, server, database = result.cpu
    cores = os.cpu_count() or 1
    print(
        f"CPU during the load ({seconds:.1f} s x {cores} cores = {seconds * cores:.1f} s): "
        f"clients {client:.1f} s, server {server:.1f} s, PostgreSQL {database:.1f} s; per "
        f"request {server / requests * 1000:.1f} ms server + {database / requests * 1000:.1f} ms "
        "PostgreSQL"
    )
    errors = [e for c in clients for e in c.errors]
    bad_status = sum(not 200 <= status < 300 for _, _, status in calls)
    verdict = "met" if not errors else "NOT MET"
    print(f"errors: {len(errors)} ({bad_status} non-2xx responses)   target 0: {verdict}")
    for error in errors[:5]:
        print(f"  {error}")
    done = sum(len(c.done) for c in clients)
    verdict = "met" if not outcome.lost else "NOT MET"
    print(f"lost saves: {len(outcome.lost)} of {done} tasks checked   target 0: {verdict}")
    for problem in outcome.lost[:5]:
        print(f"  {problem}")
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(outcome.by_status.items()))
    print(
        f"studies: {statuses}; reads not submitted {outcome.open_reads}; "
        f"arbitrations {outcome.arbitrations} ({outcome.arbitrations_open} open); "
        f"left in 'reading' with both reads in: {len(outcome.stuck)} (should be 0)"
    )
    if outcome.stuck:
        gaps = ", ".join(f"{gap:.0f}" for gap in sorted(outcome.stuck_gaps_ms))
        print(f"  their two reads were submitted within {gaps} ms of each other")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 studies")
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the load")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="pause of each client before every request (default 0: back to back, the issue's "
        "scenario)",
    )
    parser.add_argument(
        "--database-url", default=ADMIN_URL, help="an existing database on the server to use"
    )
    args = parser.parse_args()
    if make_url(args.database_url).host not in LOOPBACK:
        parser.error("the benchmark runs only against a PostgreSQL server on 127.0.0.1")
    if args.studies < 1:
        parser.error("--studies must be at least 1")
    run(args)


if __name__ == "__main__":
    main()
