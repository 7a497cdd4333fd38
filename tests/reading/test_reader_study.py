"""Reader studies (issue 12): the label protocol per project, the design (fully crossed or
split-plot, one or two sessions, each reader's shuffled order from a recorded seed), the washout
between a reader's two readings of a case, exclusions with a reason, and readers kept in the
study. Pure rules directly, the rest through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.imaging.models import QcFlag, Study
from app.reading import rules
from app.reading.models import ReadSubmission, ReadTask
from app.reading.rules import design
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import exam_files, upload

IMAGES = {"r-cc": "R", "r-mlo": "R", "l-cc": "L", "l-mlo": "L"}
BENIGN = {"birads": 1, "density": "B"}


def _label(right: dict, left: dict | None = None, boxes: list | None = None) -> rules.Label:
    return rules.parse_label({"breasts": {"R": right, "L": left or BENIGN}, "boxes": boxes or []})


def _mass(birads: int) -> dict:
    return {
        "id": "m1",
        "image_id": "r-cc",
        "xmin": 10,
        "ymin": 10,
        "xmax": 50,
        "ymax": 50,
        "categories": ["Mass"],
        "birads": birads,
    }


def _fields(label: rules.Label, protocol: rules.ProjectRules) -> list[str]:
    return [v.field for v in rules.validate(label, IMAGES, rules=protocol) if v.severity == "error"]


# --- the label protocol ---------------------------------------------------------------------

VINDR = rules.DEFAULT_RULES
SEED_002 = rules.ProjectRules(assessment_scale="0-6", finding_birads="2-5", probability_rating=True)


def test_vindr_protocol_is_the_default_and_refuses_the_wider_values() -> None:
    assert VINDR.is_vindr_protocol
    assert not SEED_002.is_vindr_protocol
    six = _label({"birads": 6, "density": "B"}, boxes=[_mass(5)])
    assert _fields(six, VINDR) == ["breasts.R.birads"]
    assert "choose 0-5" in rules.validate(six, IMAGES)[0].message
    benign_box = _label({"birads": 2, "density": "B"}, boxes=[_mass(2)])
    assert "boxes.m1.birads" in _fields(benign_box, VINDR)
    rated = _label({"birads": 1, "density": "B", "probability": 10})
    assert _fields(rated, VINDR) == ["breasts.R.probability"]


def test_seed_002_protocol_takes_bi_rads_6_boxed_benign_masses_and_a_probability() -> None:
    both = {"density": "B", "probability": 5}
    six = _label({"birads": 6, **both}, {"birads": 1, **both}, boxes=[_mass(5)])
    assert _fields(six, SEED_002) == []
    benign = _label({"birads": 2, **both}, {"birads": 1, **both}, boxes=[_mass(2)])
    assert _fields(benign, SEED_002) == []
    # a breast assessed 2 whose mass is graded 4 breaks the highest-finding rule
    graded_higher = _label({"birads": 2, **both}, {"birads": 1, **both}, boxes=[_mass(4)])
    assert _fields(graded_higher, SEED_002) == ["breasts.R"]
    missing = _label({"birads": 1, "density": "B"}, {"birads": 1, **both})
    violations = rules.validate(missing, IMAGES, rules=SEED_002)
    assert [v.field for v in violations] == ["breasts.R.probability"]
    assert "probability of malignancy (0-100)" in violations[0].message


def test_the_probability_stays_out_of_a_vindr_read() -> None:
    assert _label(BENIGN).to_json()["breasts"]["R"] == {"birads": 1, "density": "B"}
    rated = _label({"birads": 1, "density": "B", "probability": 0})
    assert rated.to_json()["breasts"]["R"] == {"birads": 1, "density": "B", "probability": 0}


def test_protocol_values_are_checked() -> None:
    with pytest.raises(ValueError, match="assessment_scale"):
        rules.ProjectRules(assessment_scale="1-5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finding_birads"):
        rules.ProjectRules(finding_birads="4-5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probability_rating"):
        rules.ProjectRules(probability_rating="yes")  # type: ignore[arg-type]


# --- the design, pure -----------------------------------------------------------------------


@given(
    readers=st.lists(st.integers(1, 10_000), min_size=1, max_size=12, unique=True),
    studies=st.lists(st.integers(1, 10_000), min_size=0, max_size=60, unique=True),
    blocks=st.one_of(st.none(), st.integers(1, 6)),
    sessions=st.sampled_from([[1], [1, 2]]),
)
def test_every_study_is_read_in_every_session_by_its_blocks_readers(
    readers, studies, blocks, sessions
) -> None:
    if blocks is not None and blocks > len(readers):
        with pytest.raises(design.DesignError):
            design.plan(readers, studies, sessions, {}, blocks)
        return
    block_of = design.blocks_of(studies, readers, blocks) if blocks else None
    planned = design.plan(readers, studies, sessions, block_of, blocks)
    assert len(set(planned)) == len(planned)  # nothing twice
    for session in sessions:
        for study in studies:
            who = {p.reader for p in planned if p.study == study and p.session == session}
            assert who  # no study without a reader
            if blocks is None:
                assert who == set(readers)  # fully crossed
            else:
                assert who == set(design.readers_of_block(readers, blocks)[block_of[study]])
    # each reader's readings are the same studies in every session
    for reader in readers:
        per_session = [
            sorted(p.study for p in planned if p.reader == reader and p.session == s)
            for s in sessions
        ]
        assert all(studies_read == per_session[0] for studies_read in per_session)


@given(st.lists(st.integers(1, 10**6), unique=True, max_size=80), st.integers(0, 2**31 - 1))
def test_a_readers_order_is_a_reproducible_shuffle(items, seed) -> None:
    order = design.shuffled(items, seed, 7, 1)
    assert sorted(order) == sorted(items)
    assert design.shuffled(list(reversed(items)), seed, 7, 1) == order  # from the seed alone


def test_orders_differ_between_readers_and_sessions() -> None:
    items = list(range(1, 101))
    orders = {tuple(design.shuffled(items, 42, r, s)) for r in (1, 2, 3) for s in (1, 2)}
    assert len(orders) == 6


def test_the_washout() -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    assert design.washout_wait(1, None, 30, now).ready
    waiting = design.washout_wait(2, None, 30, now)
    assert not waiting.ready
    assert waiting.opens_at is None
    first = now - timedelta(days=10)
    wait = design.washout_wait(2, first, 30, now)
    assert not wait.ready
    assert wait.opens_at == first + timedelta(days=30)
    assert design.washout_wait(2, now - timedelta(days=30), 30, now).ready


# --- through the API --------------------------------------------------------------------------

API = "/api/v1/reading"


@pytest.fixture
def study_world(client, db, accounts, admin):
    readers = {name: accounts.add(name).id for name in ("sr1", "sr2", "sr3")}
    admin_headers = bearer(client, "admin")
    study_ids = []
    for seed in (91, 92, 93):
        body = upload(client, exam_files(seed), admin_headers).json()
        study_ids.append(body["outcomes"][0]["study_id"])
    pks = db.scalars(select(Study.id).where(Study.study_id.in_(study_ids))).all()
    for flag in db.scalars(select(QcFlag).where(QcFlag.study_pk.in_(pks))):
        db.delete(flag)
    db.commit()
    headers = {name: bearer(client, name) for name in readers}
    return admin_headers, readers, headers, study_ids


def _reader_study(client, admin_headers, name: str, **design_fields) -> dict:
    body = {
        "name": name,
        "design": "reader_study",
        "sessions": [
            {"name": "Unaided"},
            {"name": "AI-aided", "aided": True, "washout_days": 0},
        ],
        "order_seed": 1234,
        "rules": {"probability_rating": True},
        **design_fields,
    }
    response = client.post(f"{API}/projects", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    return response.json()


def _ready(client, study_world, project: dict) -> None:
    admin_headers, readers, _, study_ids = study_world
    pid = project["id"]
    pools = {"readers": list(readers.values())}
    assert client.put(f"{API}/projects/{pid}/pools", json=pools, headers=admin_headers).is_success
    added = client.post(
        f"{API}/projects/{pid}/studies", json={"study_ids": study_ids}, headers=admin_headers
    )
    assert added.json() == {"added": 3}, added.text
    assigned = client.post(f"{API}/projects/{pid}/assign", json={}, headers=admin_headers)
    assert assigned.json() == {"assigned": 3}, assigned.text


RATED = {"birads": 1, "density": "B", "probability": 3}
READ = {"breasts": {"R": RATED, "L": RATED}}


def test_a_fully_crossed_two_session_study(client, db, study_world) -> None:
    admin_headers, readers, headers, study_ids = study_world
    project = _reader_study(client, admin_headers, "Crossed")
    assert project["design"] == "reader_study"
    assert project["order_seed"] == 1234
    assert [(s["number"], s["name"], s["aided"]) for s in project["sessions"]] == [
        (1, "Unaided", False),
        (2, "AI-aided", True),
    ]
    _ready(client, study_world, project)
    tasks = client.get(f"{API}/tasks", headers=headers["sr1"]).json()
    assert len(tasks) == 6  # 3 studies x 2 sessions
    assert sorted(t["study_id"] for t in tasks) == sorted(study_ids * 2)
    # the order is the recorded shuffle: session 1 first, in the reader's positions
    rows = db.scalars(select(ReadTask).where(ReadTask.user_id == readers["sr1"])).all()
    by_position = sorted((t.session.number, t.position, t.project_study_id) for t in rows)
    first = client.get(f"{API}/next", headers=headers["sr1"]).json()
    assert first["session"] == {"number": 1, "name": "Unaided", "aided": False}
    session_one = [t for t in rows if t.session.number == 1]
    expected = min(session_one, key=lambda t: t.position)
    assert first["id"] == expected.id
    assert [p for _, p, _ in by_position] == [1, 2, 3, 1, 2, 3]
    # a second-session reading waits for the first-session reading of the same case
    twin = next(
        t for t in rows if t.session.number == 2 and t.project_study_id == expected.project_study_id
    )
    early = client.post(
        f"{API}/tasks/{twin.id}/submit", json={"label": READ, "version": 0}, headers=headers["sr1"]
    )
    assert "first-session reading" in assert_error(early, 409, "washout")["message"]
    done = client.post(
        f"{API}/tasks/{expected.id}/submit",
        json={"label": READ, "version": 0},
        headers=headers["sr1"],
    )
    assert done.status_code == 200, done.text
    stored = db.scalar(select(ReadSubmission).where(ReadSubmission.task_id == expected.id))
    assert stored.session_id == expected.session_id
    assert stored.label["breasts"]["R"]["probability"] == 3
    # with no washout the second reading is open now; it may say which model marks it took,
    # but only marks it was shown (none here: no model; tests/studies/test_aid.py shows some)
    unseen = client.post(
        f"{API}/tasks/{twin.id}/submit",
        json={"label": READ, "version": 0, "aid": {"accepted": [3, 1, 3]}},
        headers=headers["sr1"],
    )
    assert "Mark(s) 1, 3 were not shown" in assert_error(unseen, 422)["message"]
    aided = client.post(
        f"{API}/tasks/{twin.id}/submit",
        json={"label": READ, "version": 0, "aid": {"accepted": []}},
        headers=headers["sr1"],
    )
    assert aided.status_code == 200, aided.text
    stored = db.scalar(select(ReadSubmission).where(ReadSubmission.task_id == twin.id))
    assert stored.aid == {"accepted": []}


def test_an_unaided_read_names_no_model_marks(client, study_world) -> None:
    admin_headers, _, headers, _ = study_world
    project = _reader_study(client, admin_headers, "Unaided marks")
    _ready(client, study_world, project)
    task = client.get(f"{API}/next", headers=headers["sr2"]).json()
    refused = client.post(
        f"{API}/tasks/{task['id']}/submit",
        json={"label": READ, "version": 0, "aid": {"accepted": [1]}},
        headers=headers["sr2"],
    )
    (detail,) = assert_error(refused, 422)["details"]
    assert detail["field"] == "aid"


def test_the_washout_holds_back_the_second_session(client, db, study_world) -> None:
    admin_headers, readers, headers, _ = study_world
    project = _reader_study(
        client,
        admin_headers,
        "Washout",
        sessions=[{"name": "Unaided"}, {"name": "Aided", "aided": True, "washout_days": 28}],
    )
    _ready(client, study_world, project)
    for _ in range(3):
        task = client.get(f"{API}/next", headers=headers["sr3"]).json()
        assert task["session"]["number"] == 1
        body = {"label": READ, "version": 0}
        response = client.post(
            f"{API}/tasks/{task['id']}/submit", json=body, headers=headers["sr3"]
        )
        assert response.status_code == 200
    # every session-2 reading is in its washout: nothing to read now
    assert_error(client.get(f"{API}/next", headers=headers["sr3"]), 404, "worklist_empty")
    waiting = db.scalars(
        select(ReadTask).where(ReadTask.user_id == readers["sr3"], ReadTask.position.is_not(None))
    ).all()
    second = next(t for t in waiting if t.session.number == 2)
    refused = client.put(
        f"{API}/tasks/{second.id}/draft", json={"label": READ, "version": 0}, headers=headers["sr3"]
    )
    assert "washout of 28 days" in assert_error(refused, 409, "washout")["message"]


def test_an_excluded_case_is_done_with_its_reason(client, db, study_world) -> None:
    admin_headers, _, headers, _ = study_world
    project = _reader_study(client, admin_headers, "Exclusions", sessions=[{"name": "Only"}])
    _ready(client, study_world, project)
    task = client.get(f"{API}/next", headers=headers["sr1"]).json()
    blank = client.post(
        f"{API}/tasks/{task['id']}/exclude",
        json={"reason": "  ", "version": 0},
        headers=headers["sr1"],
    )
    assert assert_error(blank, 422)["details"][0]["field"] == "reason"
    excluded = client.post(
        f"{API}/tasks/{task['id']}/exclude",
        json={"reason": "Motion blur on both MLO views", "version": 0},
        headers=headers["sr1"],
    )
    assert excluded.status_code == 200, excluded.text
    assert excluded.json()["status"] == "submitted"
    stored = db.scalar(select(ReadSubmission).where(ReadSubmission.task_id == task["id"]))
    assert stored.exclusion == "Motion blur on both MLO views"
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "read.excluded")).all()
    again = client.post(
        f"{API}/tasks/{task['id']}/exclude",
        json={"reason": "x", "version": 1},
        headers=headers["sr1"],
    )
    assert_error(again, 409, "submitted")


def test_a_study_is_complete_once_every_reader_is_in(client, db, study_world) -> None:
    admin_headers, readers, headers, study_ids = study_world
    project = _reader_study(client, admin_headers, "Complete", sessions=[{"name": "Only"}])
    _ready(client, study_world, project)
    for name in readers:
        for _ in study_ids:
            task = client.get(f"{API}/next", headers=headers[name]).json()
            body = {"label": READ, "version": 0}
            assert client.post(
                f"{API}/tasks/{task['id']}/submit", json=body, headers=headers[name]
            ).is_success
    pid = project["id"]
    states = {
        client.get(f"{API}/projects/{pid}/studies/{s}", headers=admin_headers).json()["status"]
        for s in study_ids
    }
    assert states == {"complete"}


def test_exclusion_belongs_to_reader_studies(client, study_world) -> None:
    admin_headers, readers, headers, study_ids = study_world
    response = client.post(f"{API}/projects", json={"name": "Double"}, headers=admin_headers)
    pid = response.json()["id"]
    assert response.json()["design"] == "double_read"
    assert response.json()["sessions"] == []
    client.put(
        f"{API}/projects/{pid}/pools",
        json={"readers": [readers["sr1"], readers["sr2"]]},
        headers=admin_headers,
    )
    client.post(
        f"{API}/projects/{pid}/studies", json={"study_ids": study_ids}, headers=admin_headers
    )
    client.post(f"{API}/projects/{pid}/assign", json={}, headers=admin_headers)
    task = client.get(f"{API}/next", headers=headers["sr1"]).json()
    refused = client.post(
        f"{API}/tasks/{task['id']}/exclude",
        json={"reason": "blur", "version": 0},
        headers=headers["sr1"],
    )
    assert_error(refused, 409, "not_reader_study")


def test_a_reader_cannot_leave_midway_and_a_design_needs_readers(client, study_world) -> None:
    admin_headers, readers, _, _ = study_world
    project = _reader_study(client, admin_headers, "Stay", sessions=[{"name": "Only"}])
    _ready(client, study_world, project)
    pid = project["id"]
    fewer = {"readers": [readers["sr1"], readers["sr2"]]}
    error = assert_error(
        client.put(f"{API}/projects/{pid}/pools", json=fewer, headers=admin_headers),
        409,
        "reader_in_study",
    )
    assert error["details"] == [
        {"field": "readers", "message": "sr3 has 3 reading(s) in this study."}
    ]
    # a split-plot design with more blocks than readers would leave studies unread
    split = _reader_study(
        client, admin_headers, "Split", sessions=[{"name": "Only"}], layout="split_plot", blocks=4
    )
    sid = split["id"]
    client.put(
        f"{API}/projects/{sid}/pools",
        json={"readers": list(readers.values())},
        headers=admin_headers,
    )
    refused = client.post(f"{API}/projects/{sid}/assign", json={}, headers=admin_headers)
    (detail,) = assert_error(refused, 422)["details"]
    assert detail["field"] == "blocks"
    assert "a block of studies would have no reader" in detail["message"]


def test_bad_designs_are_refused_with_the_field(client, study_world) -> None:
    admin_headers = study_world[0]
    cases = [
        ({"layout": "split_plot"}, "blocks"),
        ({"blocks": 3}, "blocks"),
        ({"sessions": [{"name": "A", "washout_days": 5}]}, "sessions.1.washout_days"),
        ({"sessions": [{"name": "A"}, {"name": "a"}]}, "sessions.2.name"),
    ]
    for index, (fields, field) in enumerate(cases):
        body = {"name": f"Bad {index}", "design": "reader_study", **fields}
        response = client.post(f"{API}/projects", json=body, headers=admin_headers)
        assert assert_error(response, 422)["details"][0]["field"] == field, response.text
    listed = client.get(f"{API}/projects", headers=admin_headers).json()
    assert not any(p["name"].startswith("Bad ") for p in listed)  # nothing half-made


def test_a_project_with_its_own_protocol_is_not_exported_as_vindr(client, study_world) -> None:
    admin_headers = study_world[0]
    project = _reader_study(client, admin_headers, "Own protocol", sessions=[{"name": "Only"}])
    body = {"project_id": project["id"], "kind": "reading", "format": "vindr"}
    refused = client.post("/api/v1/exports", json=body, headers=admin_headers)
    (detail,) = assert_error(refused, 422)["details"]
    assert detail["field"] == "format"
    assert "a probability rating" in detail["message"]
    assert client.get("/api/v1/exports", headers=admin_headers).json() == []  # nothing started
    # every read still exports
    body["format"] = "reads"
    assert client.post("/api/v1/exports", json=body, headers=admin_headers).status_code == 202
