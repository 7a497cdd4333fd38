"""Past one machine, on loopback: PostgreSQL, SeaweedFS (images and export archives), two app
nodes with data directories of their own, two `mammoread worker` processes and HAProxy in
front. A reader's session moves between the nodes; an export started through node A is run
by a worker and downloaded through node B; killing node A and a worker mid-work loses no
acknowledged answer and no job."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from app.masking.models import MaskingComparison
from app.reading.models import ReadTask
from tests.crash.test_kill import EXAM_SIZE, Prepared, prepare, token, wait_for
from tests.helpers import CSRF_INPUT, PASSWORD, free_port, test_settings
from tests.imaging.helpers import exam_files
from tests.objectstore.seaweedfs import SeaweedFS, s3_settings
from tests.reading.test_reading_api import normal

MAMMOREAD = str(Path(sys.executable).with_name("mammoread"))
ROOT = Path(__file__).resolve().parents[2]
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
STALLED_AFTER = 4.0
PSEUDONYM_KEY = "cluster-test-pseudonym-key-0123456789"

HAPROXY_CONFIG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
frontend web
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header X-Served-By %[srv_name]
    server a 127.0.0.1:{a} check inter 300 fall 2 rise 2
    server b 127.0.0.1:{b} check inter 300 fall 2 rise 2
"""


@pytest.fixture
def cluster_settings(request, tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS):
    if not database_url.startswith("postgresql"):
        pytest.skip("several nodes share PostgreSQL (SQLite is one process)")
    if not Path(HAPROXY).exists():
        if os.environ.get("MAMMOREAD_REQUIRE_CLUSTER"):
            pytest.fail("haproxy is missing: install Debian's haproxy package")
        pytest.skip("haproxy is missing: install Debian's haproxy package to run this")
    return test_settings(
        tmp_path / "prepare",
        database_url,
        pseudonym_key=PSEUDONYM_KEY,
        job_threads=0,
        job_stalled_after_seconds=STALLED_AFTER,
        **s3_settings(seaweedfs_server),
    )


@dataclass
class Cluster:
    lb: str
    a: str
    b: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()
        process.wait()


def environment(settings, data_dir: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin:/usr/sbin",
        "HOME": str(data_dir),
        "MAMMOREAD_DATA_DIR": str(data_dir),
        "MAMMOREAD_DATABASE_URL": settings.resolved_database_url,
        "MAMMOREAD_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MAMMOREAD_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "MAMMOREAD_ARGON2_TIME_COST": "1",
        "MAMMOREAD_ARGON2_MEMORY_KIB": "1024",
        "MAMMOREAD_JOB_THREADS": "0",
        "MAMMOREAD_JOB_STALLED_AFTER_SECONDS": str(STALLED_AFTER),
        "MAMMOREAD_STORAGE": "s3",
        "MAMMOREAD_S3_ENDPOINT": settings.s3_endpoint,
        "MAMMOREAD_S3_BUCKET": settings.s3_bucket,
        "MAMMOREAD_S3_PREFIX": settings.s3_prefix,
        "MAMMOREAD_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "MAMMOREAD_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
    }


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def cluster(cluster_settings, tmp_path: Path) -> Iterator[Cluster]:
    started: dict[str, subprocess.Popen] = {}
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, command: list[str]) -> subprocess.Popen:
        data_dir = tmp_path / name  # each node its own disk: nothing shared but the peers
        data_dir.mkdir()
        process = subprocess.Popen(
            command,
            env=environment(cluster_settings, data_dir),
            cwd=ROOT,
            stdout=(logs / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        started[name] = process
        return process

    ports = {"a": free_port(), "b": free_port(), "lb": free_port()}
    try:
        for node in ("a", "b"):
            start(node, [MAMMOREAD, "serve", "--port", str(ports[node])])
        for node in ("a", "b"):
            url = f"http://127.0.0.1:{ports[node]}"
            assert wait_for(lambda url=url: healthy(url), 30), f"node {node} did not start"
        config = tmp_path / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=ports["lb"], a=ports["a"], b=ports["b"]))
        started["lb"] = subprocess.Popen(
            [HAPROXY, "-f", str(config), "-db"],
            stdout=(logs / "haproxy.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        lb = f"http://127.0.0.1:{ports['lb']}"
        assert wait_for(lambda: healthy(lb), 15), "haproxy did not start"
        cluster = Cluster(lb, f"http://127.0.0.1:{ports['a']}", f"http://127.0.0.1:{ports['b']}")
        cluster.processes = started
        cluster.start_worker = lambda name: start(name, [MAMMOREAD, "worker"])  # type: ignore[attr-defined]
        yield cluster
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def incoming(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("incoming")
    for seed in range(400, 404):
        for name, data in exam_files(seed, **EXAM_SIZE):
            (folder / f"{seed}-{name}").write_bytes(data)
    return folder


# --- what the readers do, through the load balancer -------------------------------------------


@dataclass
class Acknowledged:
    drafts: dict[int, tuple[int, dict]] = field(default_factory=dict)
    answers: set[str] = field(default_factory=set)
    after_kill: int = 0  # acknowledgements once node A was dead
    failed: int = 0  # replies that were not 200 (a node killed under them)
    lock: threading.Lock = field(default_factory=threading.Lock)
    killed: threading.Event = field(default_factory=threading.Event)

    def ack(self) -> None:
        if self.killed.is_set():
            self.after_kill += 1


def send(http: httpx.Client, acked: Acknowledged, method: str, url: str, **kwargs) -> dict | None:
    """The reply's body when it is 200; None (counted) when a node died under it."""
    try:
        reply = http.request(method, url, **kwargs)
    except httpx.TransportError:
        reply = None
    if reply is None or reply.status_code != 200:
        with acked.lock:
            acked.failed += 1
        return None
    return reply.json()


def drafting(url: str, headers: dict, acked: Acknowledged, stop: threading.Event) -> None:
    """Save drafts of every task over and over; a reply that is not 200 is not an
    acknowledgement: read the task again and go on, as the reading screen does."""
    with httpx.Client(base_url=url, timeout=10, headers=headers) as http:
        tasks = send(http, acked, "GET", "/api/v1/reading/tasks") or []
        edit = 0
        while tasks and not stop.is_set():
            for task in tasks:
                edit += 1
                current = send(http, acked, "GET", f"/api/v1/reading/tasks/{task['id']}")
                if current is None:
                    continue
                label = normal(note=f"edit {edit}")
                body = {"label": label, "version": current["version"]}
                saved = send(
                    http, acked, "PUT", f"/api/v1/reading/tasks/{task['id']}/draft", json=body
                )
                if saved is not None:
                    with acked.lock:
                        acked.drafts[task["id"]] = (saved["version"], label)
                        acked.ack()


def answering(url: str, headers: dict, project: int, acked: Acknowledged, stop) -> None:
    with httpx.Client(base_url=url, timeout=10, headers=headers) as http:
        while not stop.is_set():
            pair = send(http, acked, "GET", f"/api/v1/masking/projects/{project}/next")
            if pair is None:
                continue
            if pair["done"]:
                return
            answer = {"answer": "query"}
            uid = pair["comparison_id"]
            if send(http, acked, "POST", f"/api/v1/masking/comparisons/{uid}", json=answer):
                with acked.lock:
                    acked.answers.add(uid)
                    acked.ack()


# --- the test ---------------------------------------------------------------------------------


def test_two_nodes_behind_haproxy(cluster_settings, cluster: Cluster, incoming: Path) -> None:
    prepared: Prepared = prepare(cluster_settings, incoming)
    lb = cluster.lb

    # a browser session (cookie and CSRF) moves between the nodes
    with httpx.Client(base_url=lb, timeout=10) as browser:
        page = browser.get("/login")
        csrf = CSRF_INPUT.search(page.text).group(1)
        signed_in = browser.post(
            "/login", data={"username": "rd1", "password": PASSWORD, "csrf_token": csrf}
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        served = set()
        for _ in range(6):
            account = browser.get("/account")
            assert account.status_code == 200
            assert "rd1" in account.text
            served.add(account.headers["x-served-by"])
        assert served == {"a", "b"}
        # a form post with the session's CSRF token, taken from one node, sent to the other
        for _ in range(2):
            form = browser.get("/account")
            token_csrf = CSRF_INPUT.search(form.text).group(1)
            made = browser.post(
                "/account/tokens",
                data={"csrf_token": token_csrf, "label": "cluster"},
                follow_redirects=False,
            )
            assert made.status_code in (200, 303), made.text

    # an export started through node A, run by a worker, downloaded through node B; the
    # first worker is killed while it runs it, the second runs it again
    with httpx.Client(timeout=10) as http:
        admin = token(httpx.Client(base_url=lb, timeout=10), "admin")
        engine = create_engine(cluster_settings.resolved_database_url)
        locker = engine.connect()
        held = locker.begin()
        locker.execute(text("LOCK TABLE project_studies IN ACCESS EXCLUSIVE MODE"))
        started = http.post(
            f"{cluster.a}/api/v1/exports",
            json={"project_id": prepared.reading_project, "format": "reads"},
            headers=admin,
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]

        def status() -> str:
            return http.get(f"{lb}/api/v1/exports/{job_id}", headers=admin).json()["status"]

        cluster.start_worker("w1")  # type: ignore[attr-defined]
        assert wait_for(lambda: status() == "running", 30)
        cluster.kill("w1")  # mid-export: it holds the job and waits on the lock
        held.rollback()
        locker.close()

        # readers at work through the load balancer while node A dies
        acked, stop = Acknowledged(), threading.Event()
        rd = {name: token(httpx.Client(base_url=lb, timeout=10), name) for name in ("rd1", "rd2")}
        mk = token(httpx.Client(base_url=lb, timeout=10), "mk1")
        threads = [
            threading.Thread(target=drafting, args=(lb, rd["rd1"], acked, stop)),
            threading.Thread(target=drafting, args=(lb, rd["rd2"], acked, stop)),
            threading.Thread(
                target=answering, args=(lb, mk, prepared.masking_project, acked, stop)
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            assert wait_for(lambda: len(acked.drafts) >= 2 and len(acked.answers) >= 2, 30)
            cluster.kill("a")
            acked.killed.set()
            cluster.start_worker("w2")  # type: ignore[attr-defined]
            assert wait_for(lambda: acked.after_kill >= 10, 30), acked
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)

        print(
            f"acknowledged: {len(acked.drafts)} tasks' drafts, {len(acked.answers)} answers, "
            f"{acked.after_kill} after node A died; {acked.failed} replies lost with it"
        )
        assert wait_for(lambda: status() == "done", 60), status()
        done = http.get(f"{lb}/api/v1/exports/{job_id}", headers=admin).json()
        assert done["attempts"] == 2  # the killed run, then the one that finished
        download = http.get(f"{cluster.b}/api/v1/exports/{job_id}/download", headers=admin)
        assert download.status_code == 200
        assert download.content[:2] == b"PK"
        assert not any(
            (Path(cluster_settings.data_dir).parent / n / "exports").exists() for n in ("a", "b")
        )

    # nothing acknowledged is lost
    with Session(engine) as db:
        for task_id, (version, label) in acked.drafts.items():
            task = db.get(ReadTask, task_id)
            assert task.version >= version
            if task.version == version:
                assert task.draft == label
        kept = set(db.scalars(select(MaskingComparison.uid)))
        assert acked.answers <= kept
    engine.dispose()
