"""Twenty readers sorting at once (CSAW-M masking sort) against PostgreSQL, lists of ~450-470.

    python -m bench.masking [--quick] [--grow-to N] [--think-ms MS] [--seconds S]
                            [--stress-seconds S] [--size ROWSxCOLUMNS] [--no-render]
                            [--no-wait-prefetch] [--workers W]

Setup (not timed): a scratch PostgreSQL database ``mammoread_bench_masking_<random>`` (dropped
at the end, also on failure) and a data directory in a temporary folder. 130 studies of 4 views
(520 images): 8 distinct synthetic exams, 1024x832 by default (the size of the 832 px pyramid
level a real 3328-column mammogram shows in a ~900 px pane), each imported again under new
study, series and image UIDs (generating 130 exams would take minutes; the render work per image
is the same). One full-sort project over all 520 images (image_ids, view any) with 6 seed images
and the default settings (5% probes, sides not randomised), 20 readers. Every reader answers as
a consistent reader of one hidden masking value per image (the seeds spread evenly over it), so
every list must come out exactly sorted.

Growing the lists (not timed): 20 x ~3,700 answers through the API would take far too long on 2
cores, so each reader's list is grown in-process to --grow-to images (default 450) with the pure
search engine (``app.masking.search``, the code the service runs) and logged as the service logs
answers: a MaskingComparison row per answer (bulk insert), the reader's state, counters and
version. No probes are logged in that phase.

Load (timed): ``mammoread serve --workers 2`` in a subprocess; 20 reader threads, each with its
own keep-alive connection and bearer token: GET next, then answers (POST
/api/v1/masking/comparisons/{id}); each reply carries the next pair. Two phases, the same
readers going on: "human pace" (--seconds, default 120; each answer sent 0.5x to 1.5x
--think-ms, default 1500 ms, after its pair was shown; the readers start spread over that time)
and "back to back" (--stress-seconds, default 30; 0 leaves it out): capacity, and what
saturation does. Every 10 answers a reader asks GET next again (a page reload: the same pair
must come back); every 5 answers it sends GET /healthz and GET /api/v1/me (the baseline, under
the very same load).
Simulated browser (--no-render leaves it out): when a pair is shown, the viewer's first-paint
request (GET /api/v1/images/{id}/render?width=W&flip=false&format=jpeg, W the pyramid width
static/js/masking.js firstUrls picks for a 940x900 device-pixel pane, --pane) is sent for each
image new on screen, and timed; then a second thread with its own connection requests the
reply's ``prefetch`` images the same way, skipping URLs fetched already (masking.js; the
raw-level requests that follow in the browser are left out). An answer is not sent before that
prefetch is in (--no-wait-prefetch: at the think time regardless). A browser would not ask again
for an image its HTTP cache holds (the renders are immutable); --browser-cache models that,
by default the bench asks anyway, to time the server's render cache.

Figures: client-side latency on loopback, p50/p95/max, per phase: POST answer (answer -> next
pair; target p95 <= 30 ms), GET next, render GETs of images new on screen and of the prefetch,
the baseline; a cold render (a window never asked for, 20 at once, before the load) to compare
with. "In the render cache": for each image new on screen, whether the previous reply's
prefetch named it and whether its render had been fetched completely before it was shown (a
browser's HTTP cache answers then, without a request), probes apart (drawn from old answers, so
unpredictable by design; blind in the API, they answer "continue": the bench tells them by their
query, an image already in the reader's list, and leaves them out of the comparison counts).
Comparisons per inserted image against ceil(log2(n+1)) at the list length n when its search
began (the protocol's bound is that + 2 ternary steps), through the API and for the growth
phase. Throughput and CPU of the clients, the server and PostgreSQL per
phase; errors, 5xx and tracebacks in the server log, lock waits, deadlocks; every reader's list
checked against the hidden order.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import queue
import random
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.service import AuthKit
from app.auth.users import create_user
from app.core import migrations
from app.core.config import Settings
from app.core.database import make_engine, make_session_factory, utcnow
from app.imaging.importer import Source
from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.synthetic import ExamOptions, synthetic_exam
from app.masking import search, service
from app.masking.models import SEARCH, MaskingComparison, MaskingProject, MaskingReader
from bench.common import bench_settings, run_import, scratch_database
from bench.reading import (
    ADMIN_URL,
    LOOPBACK,
    PASSWORD,
    LockWatch,
    account,
    cpu_now,
    cpu_spent,
    p95,
    server,
    server_log_problems,
    server_version,
)

READERS = 20
SEEDS = 6
STUDIES = 130  # x 4 views = 520 images
DISTINCT_EXAMS = 8
TARGET_MS = 30.0
API = "/api/v1/masking"
RELOAD_EVERY = 10  # answers between two GET next (a page reload)
SLICE_SECONDS = 30  # the answer latency is shown per slice this long, too
BASELINE_EVERY = 5  # answers between two baseline requests (GET /healthz, GET /api/v1/me)
VALUES_SEED = 2024


# --- the scratch installation ---------------------------------------------------------------


def exam_copies(studies: int, options: ExamOptions) -> list[Source]:
    """``studies`` four-view exams: DISTINCT_EXAMS synthetic ones, each imported again under new
    study, series and image UIDs. Each file is written when the importer reads it (in turn)."""
    exams = [synthetic_exam(seed, options)[0] for seed in range(min(DISTINCT_EXAMS, studies))]

    def data(index: int, view: int) -> bytes:
        ds = exams[index % len(exams)][view]
        ds.StudyInstanceUID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'study-{index}').int}"
        ds.SeriesInstanceUID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f's-{index}-{view}').int}"
        ds.SOPInstanceUID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'i-{index}-{view}').int}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = f"BENCH-{index:05d}"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    return [
        Source(f"exam-{index:04d}/{view}.dcm", lambda i=index, v=view: data(i, v))
        for index in range(studies)
        for view in range(len(exams[0]))
    ]


@dataclass
class Insertion:
    length: int  # the list length when the search started
    comparisons: int


@dataclass
class Installation:
    project_id: int
    readers: list[str]
    values: dict[str, float]  # hidden masking value per image id
    image_ids: dict[int, str]  # image pk -> image id
    images: int
    grown: list[Insertion]  # every insertion of the growth phase, all readers
    grown_answers: int
    lists: dict[str, list[str]]  # each reader's sorted list (image ids) when the load starts


def consistent_answer(values: dict[str, float], query: str, reference: str) -> str:
    """A consistent reader (tests/masking/simulation.py): never contradicts itself."""
    if values[query] > values[reference]:
        return "query"
    if values[query] < values[reference]:
        return "reference"
    return "same"


def install(settings: Settings, studies: int, options: ExamOptions, grow_to: int) -> Installation:
    migrations.upgrade(settings)
    report = run_import(settings, ImagingKit.from_settings(settings), exam_copies(studies, options))
    assert report.count("imported") == len(report.outcomes), report.summary()
    kit = AuthKit.from_settings(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as db:
            image_ids: dict[int, str] = dict(db.execute(select(Image.id, Image.image_id)).all())
            rng = random.Random(VALUES_SEED)
            values = {image_id: rng.random() for image_id in sorted(image_ids.values())}
            ordered = sorted(values, key=values.__getitem__)
            step = (len(ordered) - 1) / (SEEDS - 1)
            seeds = [ordered[round(n * step)] for n in range(SEEDS)]
            cli = Actor(None, None, "bench")
            admin, _ = create_user(db, kit, cli, account("admin", Role.ADMIN))
            readers = [f"reader{i:02d}" for i in range(READERS)]
            ids = [create_user(db, kit, cli, account(n, Role.READER))[0].id for n in readers]
            project = service.create_project(
                db,
                Actor(admin, "127.0.0.1"),
                service.NewProject(
                    "Bench masking",
                    image_ids=sorted(image_ids.values()),
                    view="any",
                    seed_list=seeds,
                    order_seed=7,
                    reader_ids=ids,
                ),
            )
            grown, answers, lists = grow(db, project, image_ids, values, grow_to)
            return Installation(
                project.id, readers, values, image_ids, len(image_ids), grown, answers, lists
            )
    finally:
        engine.dispose()


def grow(
    db: Session,
    project: MaskingProject,
    image_ids: dict[int, str],
    values: dict[str, float],
    grow_to: int,
) -> tuple[list[Insertion], int, dict[str, list[str]]]:
    """Grow every reader's list to ``grow_to`` images with the pure engine, logging each answer
    as ``service._apply`` does (search answers only, no probes), in one transaction."""
    insertions: list[Insertion] = []
    total = 0
    lists = {}
    rule = service.rule_name(project)
    for reader in db.scalars(select(MaskingReader).where(MaskingReader.project_id == project.id)):
        setup = service.setup_for(project, reader)
        state = search.ReaderState.from_json(reader.state)
        rows: list[dict[str, Any]] = []
        count, length = 0, 0
        while len(state.order) < grow_to or state.current is not None:
            state = search.start_next(state, setup)
            pair = search.pair_for(state, setup)
            if pair is None:
                break
            before = state.current
            assert before is not None
            if before.search.comparisons == 0 and before.search.first is None:
                count, length = 0, len(state.order)
            given = consistent_answer(values, image_ids[pair.query], image_ids[pair.reference])
            state, outcome = search.answer(state, setup, pair, given)  # type: ignore[arg-type]
            count += 1
            if outcome.kind == "placed":
                insertions.append(Insertion(length, count))
            rows.append(
                {
                    "uid": secrets.token_hex(16),
                    "project_id": project.id,
                    "user_id": reader.user_id,
                    "kind": SEARCH,
                    "query_pk": pair.query,
                    "reference_pk": pair.reference,
                    "query_side": pair.query_side,
                    "answer": given,
                    "rule": rule,
                    "phase": pair.phase,
                    "interval_low": pair.low,
                    "interval_high": pair.high,
                    "reference_position": pair.position,
                    "attempt": pair.attempt,
                    "outcome": outcome.kind,
                    "outcome_position": outcome.position,
                    "search_before": before.to_json(),
                }
            )
        start = utcnow() - timedelta(seconds=3 * len(rows) + 60)
        jitter = random.Random(reader.user_id)
        for n, row in enumerate(rows):
            served = start + timedelta(seconds=3 * n)
            response_ms = jitter.randint(800, 2800)
            row["served_at"] = served
            row["answered_at"] = served + timedelta(milliseconds=response_ms)
            row["response_ms"] = response_ms
        if rows:
            db.execute(insert(MaskingComparison), rows)
        reader.state = state.to_json()
        reader.served = reader.answered = len(rows)
        reader.version = 2 * len(rows)
        reader.updated_at = utcnow()
        total += len(rows)
        lists[reader.user.username] = [image_ids[pk] for pk in state.order]
    db.commit()
    return insertions, total, lists


# --- the simulated readers ------------------------------------------------------------------


def pick_level(widths: list[int], wanted: int) -> int:
    best = 0
    for k, width in enumerate(widths):
        if width >= wanted and width <= widths[best]:
            best = k
    return best


def render_url(image: dict[str, Any], pane: tuple[int, int]) -> str:
    """The viewer's first-paint request for ``image`` in a pane (masking.js firstUrls)."""
    columns, rows = image["columns"], image["rows"]
    widths = image.get("pyramid_widths") or [columns]
    scale = min(pane[0] / columns, pane[1] / rows)
    k = pick_level(widths, math.ceil(columns * scale - 1e-6))
    return f"/api/v1/images/{image['image_id']}/render?width={widths[k]}&flip=false&format=jpeg"


@dataclass
class Phase:
    name: str
    think: float  # mean seconds between a pair shown and its answer (0.5x to 1.5x)
    seconds: float


@dataclass
class Shown:
    """One image new on screen: was it prefetched, and was it fetched before it was shown."""

    phase: str
    predicted: bool
    ready: bool
    in_flight: bool
    probe: bool = False


@dataclass
class Reader:
    name: str
    http: httpx.Client
    prefetch_http: httpx.Client | None
    values: dict[str, float]
    pane: tuple[int, int]
    wait_prefetch: bool
    jitter: random.Random
    browser_cache: bool = False  # skip the requests a browser's HTTP cache would answer
    phase: str = ""
    calls: list[tuple[str, str, float, int]] = field(default_factory=list)  # phase, op, ms, status
    answer_times: list[tuple[float, float]] = field(default_factory=list)  # monotonic, ms
    errors: list[str] = field(default_factory=list)
    insertions: list[tuple[str, Insertion]] = field(default_factory=list)
    shown: list[Shown] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    fetched: set[str] = field(default_factory=set)  # the browser's HTTP cache
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    jobs: queue.Queue[list[str] | None] = field(default_factory=queue.Queue)
    placed: set[str] = field(default_factory=set)  # the images in the reader's list
    count: int = 0  # comparisons of the search in progress
    length: int = 0  # the list length when it began (0: begun before the load)

    def request(
        self, op: str, method: str, url: str, http: httpx.Client | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        client = http or self.http
        phase = self.phase
        start = time.perf_counter()
        try:
            response = client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.record(phase, op, (time.perf_counter() - start) * 1000, 0)
            self.errors.append(f"{self.name} {method} {url}: {error!r}")
            return 0, None
        self.record(phase, op, (time.perf_counter() - start) * 1000, response.status_code)
        if not 200 <= response.status_code < 300:
            self.errors.append(
                f"{self.name} {method} {url}: {response.status_code} {response.text[:300]}"
            )
            return response.status_code, None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.status_code, response.json()
        return response.status_code, response.content

    def record(self, phase: str, op: str, ms: float, status: int) -> None:
        with self.lock:
            self.calls.append((phase, op, ms, status))
            if op == "answer" and 200 <= status < 300:
                self.answer_times.append((time.monotonic(), ms))

    # the browser's side: first paints, and the prefetch thread

    def show(
        self, pair: dict[str, Any], before: dict[str, Any] | None, predicted: set[str]
    ) -> None:
        """The viewer's first-paint requests for the images new on screen."""
        on_screen = set()
        if before is not None:
            on_screen = {before["query_image_id"], before["reference_image_id"]}
        for role in ("query", "reference"):
            image = pair["images"][role]
            if image["image_id"] in on_screen:
                continue
            url = render_url(image, self.pane)
            with self.lock:
                ready, flying = url in self.fetched, url in self.in_flight
            if before is not None:
                probe = is_probe(self, pair)
                predicted_ = image["image_id"] in predicted
                self.shown.append(Shown(self.phase, predicted_, ready, flying, probe))
            if ready and self.browser_cache:
                continue
            status, _ = self.request("shown", "GET", url)
            if status == 200:
                with self.lock:
                    self.fetched.add(url)

    def prefetch(self, pair: dict[str, Any]) -> None:
        urls = []
        with self.lock:
            for image in pair.get("prefetch", []):
                url = render_url(image, self.pane)
                if url not in self.fetched and url not in self.in_flight:
                    self.in_flight.add(url)
                    urls.append(url)
        if urls:
            self.jobs.put(urls)

    def prefetcher(self) -> None:
        while True:
            urls = self.jobs.get()
            try:
                if urls is None:
                    return
                for url in urls:
                    status, _ = self.request("prefetch", "GET", url, http=self.prefetch_http)
                    with self.lock:
                        self.in_flight.discard(url)
                        if status == 200:
                            self.fetched.add(url)
            finally:
                self.jobs.task_done()

    # the reader's side: answers

    def counted(self, pair: dict[str, Any], outcome: str) -> bool:
        """Count one search answer towards the insertion in progress; False on an unexpected
        outcome."""
        low, high = pair["interval"]
        if self.count == 0 and pair["attempt"] == 1 and low == 0 and pair["phase"] == "ternary":
            self.length = high + 1  # a search's first comparison spans the whole list
        self.count += 1
        if outcome == "placed":
            if self.length:
                self.insertions.append((self.phase, Insertion(self.length, self.count)))
            self.placed.add(pair["query_image_id"])
            self.count = self.length = 0
            return True
        if outcome != "continue":
            self.errors.append(f"{self.name}: outcome {outcome!r} from a consistent reader")
            return False
        return True


def is_probe(reader: Reader, pair: dict[str, Any]) -> bool:
    """Probes are blind in the API (their answers say "continue"), but the bench knows: a probe
    repeats an old comparison, so its query is an image placed already; a search's never is."""
    return pair["query_image_id"] in reader.placed


def session(
    reader: Reader, project_id: int, phases: list[Phase], render: bool, started: float
) -> None:
    """One reader through every phase; stops at the first error."""
    try:
        sort_until(reader, project_id, phases, render, started)
    except Exception as error:  # a bug here must show as an error, not as a quiet thread
        reader.errors.append(f"{reader.name}: {error!r}")


def current_phase(phases: list[Phase], started: float) -> Phase | None:
    elapsed = time.monotonic() - started
    for phase in phases:
        if elapsed < phase.seconds:
            return phase
        elapsed -= phase.seconds
    return None


def sort_until(
    reader: Reader, project_id: int, phases: list[Phase], render: bool, started: float
) -> None:
    phase = current_phase(phases, started)
    assert phase is not None
    reader.phase = phase.name
    time.sleep(reader.jitter.uniform(0, phase.think))  # readers do not all open at once
    next_url = f"{API}/projects/{project_id}/next"
    status, pair = reader.request("next", "GET", next_url)
    if status != 200:
        return
    shown_at = time.monotonic()
    if render:
        reader.show(pair, None, set())
        reader.prefetch(pair)
    answers = 0
    while not pair["done"]:
        if render and reader.wait_prefetch:
            reader.jobs.join()
        pause = phase.think * reader.jitter.uniform(0.5, 1.5) - (time.monotonic() - shown_at)
        if pause > 0:
            time.sleep(pause)
        phase = current_phase(phases, started)
        if phase is None:
            return
        reader.phase = phase.name
        given = consistent_answer(reader.values, pair["query_image_id"], pair["reference_image_id"])
        url = f"{API}/comparisons/{pair['comparison_id']}"
        status, reply = reader.request("answer", "POST", url, json={"answer": given})
        if status != 200:
            return
        answers += 1
        outcome = reply["outcome"]
        if is_probe(reader, pair):
            reader.outcomes["probe (blind)"] += 1
            if outcome != "continue":
                reader.errors.append(f"{reader.name}: a probe's answer gave {outcome!r}")
                return
        else:
            reader.outcomes[outcome] += 1
            if not reader.counted(pair, outcome):
                return
        following = reply["next"]
        shown_at = time.monotonic()
        if following["done"]:
            return
        if render:
            reader.show(following, pair, {i["image_id"] for i in pair.get("prefetch", [])})
        pair = following
        if answers % BASELINE_EVERY == 0:  # the baseline, under the very same load
            for op, path in (("healthz", "/healthz"), ("me", "/api/v1/me")):
                reader.request(op, "GET", path)
        if answers % RELOAD_EVERY == 0:
            status, again = reader.request("next", "GET", next_url)
            if status != 200:
                return
            if again["comparison_id"] != pair["comparison_id"]:
                reader.errors.append(f"{reader.name}: GET next served another pair")
                return
        if render:
            reader.prefetch(pair)


def cold_renders(readers: list[Reader], image: dict[str, Any], repeats: int) -> list[float]:
    """Renders no one asked for before (a window of their own), every reader thread at once."""
    samples: list[float] = []
    barrier = threading.Barrier(len(readers))
    base = render_url(image, readers[0].pane)

    def run(index: int, reader: Reader) -> None:
        barrier.wait()
        for n in range(repeats):
            url = f"{base}&wc={1000 + index * repeats + n}.5&ww=1500"
            start = time.perf_counter()
            response = reader.http.get(url)
            samples.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                reader.errors.append(f"{reader.name} GET {url}: {response.status_code}")

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def sign_in(
    base: str,
    names: list[str],
    args: argparse.Namespace,
    values: dict[str, float],
    lists: dict[str, list[str]],
) -> list[Reader]:
    readers = []
    for name in names:
        response = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": name, "password": PASSWORD}, timeout=30
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        http = httpx.Client(base_url=base, headers=headers, timeout=30)
        side = httpx.Client(base_url=base, headers=headers, timeout=30) if args.render else None
        reader = Reader(
            name, http, side, values, args.pane, args.wait_prefetch, random.Random(name)
        )
        reader.placed = set(lists[name])
        reader.browser_cache = args.browser_cache
        readers.append(reader)
    return readers


@dataclass
class Result:
    readers: list[Reader]
    started: float  # time.monotonic() when the first phase began
    cold: list[float]
    seconds: dict[str, float]
    cpu: dict[str, list[float]]  # per phase: clients, server, PostgreSQL backends (CPU s)


def load(
    args: argparse.Namespace,
    setup: Installation,
    phases: list[Phase],
    base: str,
    group: int,
    watch: LockWatch,
) -> Result:
    readers = sign_in(base, setup.readers, args, setup.values, setup.lists)
    prefetchers = [threading.Thread(target=r.prefetcher, daemon=True) for r in readers]
    try:
        for reader in readers:  # warm up: connections, worker pools (not timed)
            for path in ("/healthz", "/api/v1/me"):
                reader.http.get(path).raise_for_status()
        cold: list[float] = []
        if args.render:
            status, pair = readers[0].request(
                "warm", "GET", f"{API}/projects/{setup.project_id}/next"
            )
            readers[0].calls.clear()
            if status == 200 and not pair["done"]:
                cold = cold_renders(readers, pair["images"]["query"], 3 if args.quick else 5)
            for thread in prefetchers:
                thread.start()
        started = time.monotonic()
        threads = [
            threading.Thread(
                target=session, args=(r, setup.project_id, phases, args.render, started)
            )
            for r in readers
        ]
        seconds, cpu = {}, {}
        with watch:
            before = cpu_now(group, watch)
            clock = time.perf_counter()
            for thread in threads:
                thread.start()
            for phase in phases:  # CPU per phase, sampled at the boundaries
                end = clock + phase.seconds
                while time.perf_counter() < end and any(t.is_alive() for t in threads):
                    time.sleep(min(0.1, max(0.0, end - time.perf_counter())))
                if phase is phases[-1]:
                    for thread in threads:
                        thread.join()
                    for reader in readers:
                        if args.render:
                            reader.jobs.join()
                after = cpu_now(group, watch)
                seconds[phase.name] = time.perf_counter() - clock
                cpu[phase.name] = cpu_spent(before, after)
                before, clock = after, time.perf_counter()
    finally:
        for reader in readers:
            reader.jobs.put(None)
        for thread in prefetchers:
            if thread.is_alive():
                thread.join(timeout=10)
        for reader in readers:
            reader.http.close()
            if reader.prefetch_http is not None:
                reader.prefetch_http.close()
    return Result(readers, started, cold, seconds, cpu)


# --- checking and reporting -----------------------------------------------------------------


def figure(name: str, samples: list[float], target: float | None = None) -> str:
    if not samples:
        return f"  {name:<44} no samples"
    line = (
        f"  {name:<44} p50 {statistics.median(samples):6.1f} ms   p95 {p95(samples):6.1f} ms   "
        f"max {max(samples):6.1f} ms   n {len(samples):5d}"
    )
    if target is None:
        return line
    verdict = "met" if p95(samples) <= target else "NOT MET"
    return f"{line}   p95 <= {target:.0f} ms: {verdict}"


def bound_line(name: str, insertions: list[Insertion]) -> str:
    if not insertions:
        return f"  {name}: no insertion"
    logs = [math.ceil(math.log2(i.length + 1)) for i in insertions]
    pairs = list(zip(insertions, logs, strict=True))
    mean = statistics.fmean(i.comparisons for i in insertions)
    mean_log = statistics.fmean(logs)
    excess = max(i.comparisons - b for i, b in pairs)
    over = sum(i.comparisons > b + search.TERNARY_STEPS for i, b in pairs)
    lengths = [i.length for i in insertions]
    return (
        f"  {name}: {len(insertions)} insertions at list lengths {min(lengths)}-{max(lengths)}: "
        f"{mean:.2f} comparisons per image vs mean ceil(log2(n+1)) {mean_log:.2f} "
        f"(ratio {mean / mean_log:.2f}); most over ceil(log2(n+1)) {excess:+d}; over the "
        f"protocol's bound ceil(log2(n+1)) + {search.TERNARY_STEPS}: {over}"
    )


def check_lists(database_url: str, setup: Installation) -> tuple[int, list[int], int]:
    """Readers whose list is exactly in hidden order; list lengths; comparisons logged."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as db:
            states = [
                search.ReaderState.from_json(r.state)
                for r in db.scalars(
                    select(MaskingReader).where(MaskingReader.project_id == setup.project_id)
                )
            ]
            logged = db.scalar(select(func.count()).select_from(MaskingComparison)) or 0
    finally:
        engine.dispose()
    sorted_ok = 0
    for state in states:
        keys = [setup.values[setup.image_ids[pk]] for pk in state.order]
        sorted_ok += keys == sorted(keys)
    return sorted_ok, sorted(len(s.order) for s in states), logged


def share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else "0"


def print_phase(
    args: argparse.Namespace, phases: list[Phase], phase: Phase, result: Result
) -> None:
    readers = result.readers
    calls = [(op, ms, st) for r in readers for ph, op, ms, st in r.calls if ph == phase.name]
    ok = {
        op: [ms for o, ms, status in calls if o == op and 200 <= status < 300]
        for op in ("answer", "next", "shown", "prefetch", "healthz", "me")
    }
    seconds = result.seconds[phase.name]
    pace = (
        f"each answering {phase.think * 500:.0f}-{phase.think * 1500:.0f} ms after a pair is shown"
        if phase.think
        else "back to back"
    )
    if args.render and args.wait_prefetch:
        pace += ", not before its prefetch is in"
    print(f"{phase.name}: {READERS} readers at once for {seconds:.0f} s, {pace}")
    print(figure("GET  /healthz (baseline, every 5th answer)", ok["healthz"]))
    print(figure("GET  /api/v1/me (baseline, bearer token)", ok["me"]))
    print(figure("POST comparisons/{id} (answer -> next pair)", ok["answer"], TARGET_MS))
    print(figure("GET  projects/{id}/next (every 10th answer)", ok["next"]))
    if args.render:
        print(figure("GET  render, images new on screen", ok["shown"]))
        print(figure("GET  render, prefetch", ok["prefetch"]))
    if phase.seconds >= 2 * SLICE_SECONDS:  # warm-up (caches, connections) or steady
        begin = result.started + sum(p.seconds for p in phases[: phases.index(phase)])
        slices = []
        for n in range(int(phase.seconds // SLICE_SECONDS)):
            low, high = begin + n * SLICE_SECONDS, begin + (n + 1) * SLICE_SECONDS
            part = [ms for r in readers for t, ms in r.answer_times if low <= t < high]
            slices.append(f"{p95(part):.0f}" if len(part) > 1 else "-")
        print(f"    POST answer p95 per {SLICE_SECONDS} s of the phase: {' / '.join(slices)} ms")
    answers = len(ok["answer"])
    client, server_cpu, database = result.cpu[phase.name]
    cores = os.cpu_count() or 1
    print(
        f"  throughput {answers / seconds:.1f} answers/s ({answers} answers), "
        f"{len(calls) / seconds:.0f} requests/s; CPU ({seconds * cores:.0f} s available): "
        f"clients {client:.1f} s, server {server_cpu:.1f} s, PostgreSQL {database:.1f} s, "
        f"i.e. per answer with its other requests {server_cpu / max(answers, 1) * 1000:.1f} ms "
        f"server + {database / max(answers, 1) * 1000:.1f} ms PostgreSQL"
    )
    if args.render:
        shown = [s for r in readers for s in r.shown if s.phase == phase.name]
        for label, group in (
            ("search pairs", [s for s in shown if not s.probe]),
            ("probes", [s for s in shown if s.probe]),
        ):
            print(
                f"  images new on screen, {label}: {len(group)}; named by the previous reply's "
                f"prefetch {share(sum(s.predicted for s in group), len(group))}, rendered before "
                f"shown (a browser cache hit) {share(sum(s.ready for s in group), len(group))}"
                f", still in flight {share(sum(s.in_flight for s in group), len(group))}"
            )
    inserted = [i for r in readers for ph, i in r.insertions if ph == phase.name]
    print(bound_line("comparisons per inserted image, through the API", inserted))


def print_figures(
    args: argparse.Namespace, setup: Installation, phases: list[Phase], result: Result
) -> None:
    print("latency on loopback, client-side (perf_counter around each request):")
    if args.render:
        print(figure("GET  render, cold (before the load, 20 at once)", result.cold))
    for phase in phases:
        print_phase(args, phases, phase, result)
    readers = result.readers
    outcomes = Counter[str]()
    for reader in readers:
        outcomes.update(reader.outcomes)
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(
        bound_line("growth phase (engine, in-process), comparisons per inserted image", setup.grown)
    )
    errors = [e for r in readers for e in r.errors]
    bad_status = sum(not 200 <= status < 300 for r in readers for _, _, _, status in r.calls)
    verdict = "met" if not errors else "NOT MET"
    print(f"errors: {len(errors)} ({bad_status} non-2xx responses)   target 0: {verdict}")
    for error in errors[:5]:
        print(f"  {error}")


def run(args: argparse.Namespace) -> None:
    rows, columns = args.size
    options = ExamOptions(rows=rows, columns=columns)
    phases = [Phase("human pace", args.think_ms / 1000, args.seconds)]
    if args.stress_seconds > 0:
        phases.append(Phase("back to back", 0.0, args.stress_seconds))
    with (
        tempfile.TemporaryDirectory() as directory,
        scratch_database(args.database_url, "masking") as url,
    ):
        settings = bench_settings(directory, url)
        started = time.perf_counter()
        setup = install(settings, args.studies, options, args.grow_to)
        database = make_url(url).database
        assert database is not None
        print(
            f"scratch database {database} on PostgreSQL {server_version(args.database_url)} "
            f"(127.0.0.1), setup in {time.perf_counter() - started:.1f} s:"
        )
        print(
            f"  {setup.images} images ({args.studies} studies x 4 views: "
            f"{min(DISTINCT_EXAMS, args.studies)} synthetic exams {rows}x{columns} under new "
            f"UIDs); one full-sort project over all, {SEEDS} seeds, probes 5%, {READERS} readers"
        )
        grown_to = min(len(order) for order in setup.lists.values())
        print(
            f"  lists grown in-process (engine, not timed) to {grown_to} images each: "
            f"{setup.grown_answers} answers logged"
        )
        log_path = Path(directory) / "server.log"
        watch = LockWatch(args.database_url, database)
        try:
            _, sessions_before = watch.counters()
            with server(settings, log_path, args.workers) as (base, group):
                print(f"  server: mammoread serve --workers {args.workers}, subprocess on {base}")
                result = load(args, setup, phases, base, group, watch)
            deadlocks, sessions = watch.counters()
        finally:
            watch.engine.dispose()
        print_figures(args, setup, phases, result)
        sorted_ok, lengths, logged = check_lists(url, setup)
        verdict = "met" if sorted_ok == READERS else "NOT MET"
        print(
            f"lists: {sorted_ok} of {READERS} exactly in the hidden order ({verdict}), now "
            f"{lengths[0]}-{lengths[-1]} images; {logged} comparisons logged"
        )
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


def size(value: str) -> tuple[int, int]:
    try:
        first, second = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("give two sizes, e.g. 1024x832") from None
    if first < 64 or second < 64:
        raise argparse.ArgumentTypeError("at least 64x64")
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick",
        action="store_true",
        help="defaults: 20 studies of 256x208, lists grown to 40, 10 s + 5 s, 300 ms think time",
    )
    parser.add_argument("--studies", type=int, default=STUDIES, help="4 images each")
    parser.add_argument("--size", type=size, default=(1024, 832), help="ROWSxCOLUMNS")
    parser.add_argument(
        "--grow-to", type=int, default=450, help="list length reached in-process before the load"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=1500,
        help="human pace: mean time from a pair shown to its answer (0.5x to 1.5x)",
    )
    parser.add_argument("--seconds", type=float, default=120, help="human-pace phase")
    parser.add_argument(
        "--stress-seconds", type=float, default=30, help="back-to-back phase after it (0: none)"
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--pane", type=size, default=(940, 900), help="viewer pane WIDTHxHEIGHT, device pixels"
    )
    parser.add_argument(
        "--no-render",
        dest="render",
        action="store_false",
        help="leave out the browser's render and prefetch requests",
    )
    parser.add_argument(
        "--browser-cache",
        action="store_true",
        help="send no render request for an image fetched already (as a browser's HTTP cache "
        "would answer it); by default every image new on screen is requested, and timed",
    )
    parser.add_argument(
        "--no-wait-prefetch",
        dest="wait_prefetch",
        action="store_false",
        help="answer without waiting for the prefetch to finish",
    )
    parser.add_argument(
        "--database-url",
        default=ADMIN_URL,
        help="an existing database on the server, to create the scratch one next to",
    )
    args = parser.parse_args()
    if make_url(args.database_url).host not in LOOPBACK:
        parser.error("the benchmark runs only against a PostgreSQL server on 127.0.0.1")
    if args.quick:  # smaller defaults; options given explicitly still win
        quick = {"studies": 20, "size": (256, 208), "grow_to": 40, "seconds": 10}
        quick |= {"stress_seconds": 5, "think_ms": 300}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if not args.grow_to > SEEDS or args.grow_to + 20 > 4 * args.studies:
        parser.error(f"--grow-to must be above {SEEDS} and at most 4 x --studies - 20")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    run(args)


if __name__ == "__main__":
    main()
