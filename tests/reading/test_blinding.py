"""Blinding: every reply a reader gets says that their own read is in and nothing more.

Reader 2 works after reader 1 has submitted a read that reader 2 will agree with (study A,
which becomes final) and one they will not (study B, which goes to arbitration). None of
reader 2's replies may tell the study's state, whether arbitration follows, who the other
reader is, or how an admin cleared a QC flag; the two studies must look alike to them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import assert_error, bearer, login
from tests.imaging.helpers import exam_files, upload
from tests.reading.test_reading_api import normal, submit, suspicious

API = "/api/v1/reading"
FIRST_NAME = "firstreader"
FIRST_DISPLAY = "Dr Alpha Firstreader"
ARBITER_NAME = "arbitrix"
CLEAR_REASON = "Checked on the console: mirrored by the modality, 7f3q"
STUDY_STATES = {"unassigned", "reading", "arbitration", "final", "concordant"}
ADMIN_KEYS = {
    "study_status",
    "final_label",
    "final_source",
    "clear_reason",
    "cleared_at",
    "cleared_by",
}


@dataclass
class Blind:
    admin: dict[str, str]
    first: dict[str, str]
    second: dict[str, str]
    arbiter: dict[str, str]
    project_id: int
    studies: dict[str, str]  # "A" (concordant) / "B" (discordant) -> study id
    images: dict[str, dict[str, str]]  # study letter -> "R-CC" -> image id


def import_study(client, admin: dict[str, str], seed: int, **options: object) -> str:
    body = upload(client, exam_files(seed, **options), admin).json()
    return body["outcomes"][0]["study_id"]


def views(client, admin: dict[str, str], study_id: str) -> dict[str, str]:
    detail = client.get(f"/api/v1/studies/{study_id}", headers=admin).json()
    return {f"{i['laterality']}-{i['view']}": i["image_id"] for i in detail["images"]}


def clear_flag(client, admin: dict[str, str], study_id: str, kind: str) -> None:
    detail = client.get(f"/api/v1/studies/{study_id}", headers=admin).json()
    flag = next(f for f in detail["flags"] if f["kind"] == kind)
    cleared = client.post(
        f"/api/v1/qc-flags/{flag['id']}/clear", json={"reason": CLEAR_REASON}, headers=admin
    )
    assert cleared.status_code == 200, cleared.text


@pytest.fixture
def blind(client, accounts, admin) -> Blind:
    ids = {
        FIRST_NAME: accounts.add(FIRST_NAME, display_name=FIRST_DISPLAY).id,
        "secondreader": accounts.add("secondreader", display_name="Dr Beta Second").id,
        ARBITER_NAME: accounts.add(ARBITER_NAME, display_name="Dr Gamma Arbiter").id,
    }
    headers = bearer(client, "admin")
    # study A has two QC flags: the laterality one stays open, the inversion one is cleared
    studies = {
        "A": import_study(client, headers, 16, flip_view="L-CC", invert_view="R-CC"),
        "B": import_study(client, headers, 17),
    }
    clear_flag(client, headers, studies["A"], "inverted_intensity")
    project = client.post(f"{API}/projects", json={"name": "Blind"}, headers=headers).json()
    pools = {"readers": [ids[FIRST_NAME], ids["secondreader"]], "arbiters": [ids[ARBITER_NAME]]}
    client.put(f"{API}/projects/{project['id']}/pools", json=pools, headers=headers)
    # A's open flag makes it incomplete (issue 11): it is added with an override
    client.post(
        f"{API}/projects/{project['id']}/studies",
        json={"study_ids": [studies["A"], studies["B"]], "override_reason": "read despite flag"},
        headers=headers,
    )
    pair = [ids[FIRST_NAME], ids["secondreader"]]
    assigned = client.post(
        f"{API}/projects/{project['id']}/assign",
        json={"pairs": [{"study_id": s, "readers": pair} for s in studies.values()]},
        headers=headers,
    )
    assert assigned.status_code == 200, assigned.text
    return Blind(
        headers,
        bearer(client, FIRST_NAME),
        bearer(client, "secondreader"),
        bearer(client, ARBITER_NAME),
        project["id"],
        studies,
        {letter: views(client, headers, s) for letter, s in studies.items()},
    )


def tasks_by_study(client, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {t["study_id"]: t for t in client.get(f"{API}/tasks", headers=headers).json()}


def walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, nested ones included."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, key)


def assert_blind(reply: Any, where: str) -> None:
    text = str(reply)
    for secret in (FIRST_NAME, FIRST_DISPLAY, ARBITER_NAME, CLEAR_REASON):
        assert secret not in text, f"{where} tells {secret!r}"
    for key, value in walk(reply):
        assert key not in ADMIN_KEYS, f"{where} has {key!r}"
        assert not (isinstance(value, str) and value in STUDY_STATES), f"{where}: {key}={value}"
        if key in ("other_reads", "discordances"):
            assert value == [], f"{where} shows {key}"


def without(reply: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k not in keys}


def test_a_reader_learns_only_that_their_read_is_in(client, blind: Blind) -> None:
    mine = tasks_by_study(client, blind.first)
    assert submit(client, blind.first, mine[blind.studies["A"]]["id"], normal()).status_code == 200
    b_image = blind.images["B"]["R-CC"]
    assert (
        submit(client, blind.first, mine[blind.studies["B"]]["id"], suspicious(b_image))
    ).status_code == 200

    replies: list[tuple[str, Any]] = []

    def get(url: str) -> Any:
        response = client.get(url, headers=blind.second)
        assert response.status_code == 200, response.text
        replies.append((f"GET {url}", response.json()))
        return response.json()

    tasks = tasks_by_study(client, blind.second)
    task_a, task_b = (tasks[blind.studies[letter]]["id"] for letter in "AB")
    get(f"{API}/tasks")
    get(f"{API}/tasks?project_id={blind.project_id}")
    get(f"{API}/next")
    submitted: dict[int, dict[str, Any]] = {}
    for task_id in (task_a, task_b):
        detail = get(f"{API}/tasks/{task_id}")
        saved = client.put(
            f"{API}/tasks/{task_id}/draft",
            json={"label": normal(), "version": detail["version"]},
            headers=blind.second,
        )
        assert saved.status_code == 200, saved.text
        replies.append(("PUT draft", saved.json()))
        for image in detail["images"]:
            get(f"/api/v1/images/{image['image_id']}")
        done = submit(client, blind.second, task_id, normal())
        assert done.status_code == 200, done.text
        submitted[task_id] = done.json()
        again = submit(client, blind.second, task_id, normal())
        replies += [("POST submit", done.json()), ("POST submit again", again.json())]
        assert again.json()["repeated"] is True
    after = {task_id: get(f"{API}/tasks/{task_id}") for task_id in (task_a, task_b)}
    get(f"{API}/tasks")
    replies.append(("GET next", client.get(f"{API}/next", headers=blind.second).json()))

    # the admin sees that A became final and B went to arbitration ...
    for letter, state in (("A", "final"), ("B", "arbitration")):
        url = f"{API}/projects/{blind.project_id}/studies/{blind.studies[letter]}"
        assert client.get(url, headers=blind.admin).json()["status"] == state
    # ... reader 2 sees neither, nor who read first, nor how a flag was cleared
    for where, reply in replies:
        assert_blind(reply, where)
    for done in submitted.values():
        assert done["status"] == "submitted"
        assert done["label"] == normal()
    assert without(submitted[task_a], "task_id") == without(submitted[task_b], "task_id")
    moving = ("id", "study_id", "images", "assigned_at", "started_at", "submitted_at")
    assert without(after[task_a], *moving, "active_seconds") == without(
        after[task_b], *moving, "active_seconds"
    )
    login(client, "secondreader")
    page = client.get("/reading").text
    for secret in (FIRST_NAME, FIRST_DISPLAY, ARBITER_NAME, CLEAR_REASON):
        assert secret not in page


def test_readers_get_open_qc_flags_as_text_and_admins_keep_everything(client, blind) -> None:
    task = tasks_by_study(client, blind.second)[blind.studies["A"]]
    detail = client.get(f"{API}/tasks/{task['id']}", headers=blind.second).json()
    shown = {
        image["image_id"]: [flag["kind"] for flag in image["flags"]] for image in detail["images"]
    }
    flipped, inverted = blind.images["A"]["L-CC"], blind.images["A"]["R-CC"]
    assert "laterality_mismatch" in shown[flipped]
    assert "inverted_intensity" not in shown[inverted]  # cleared: not the reader's concern
    for url in (f"/api/v1/images/{flipped}", f"{API}/tasks/{task['id']}"):
        reply = client.get(url, headers=blind.second).json()
        flags = [flag for key, value in walk(reply) if key == "flags" for flag in value]
        assert flags, url
        for flag in flags:
            assert set(flag) == {"kind", "detail", "image_id"}, url
            assert flag["detail"]
    image = client.get(f"/api/v1/images/{inverted}", headers=blind.second).json()
    assert "inverted_intensity" not in [flag["kind"] for flag in image["flags"]]
    admin_view = client.get(f"/api/v1/images/{inverted}", headers=blind.admin).json()
    [cleared] = [f for f in admin_view["flags"] if f["kind"] == "inverted_intensity"]
    assert cleared["clear_reason"] == CLEAR_REASON
    assert cleared["cleared_at"] is not None
    study = client.get(f"/api/v1/studies/{blind.studies['A']}", headers=blind.admin).json()
    assert CLEAR_REASON in str(study["flags"])


def test_a_reader_sees_other_readers_tasks_nowhere(client, blind: Blind) -> None:
    theirs = tasks_by_study(client, blind.first)[blind.studies["A"]]
    assert_error(client.get(f"{API}/tasks/{theirs['id']}", headers=blind.second), 404)
    listed = client.get(f"{API}/tasks?project_id={blind.project_id}", headers=blind.second)
    assert theirs["id"] not in [t["id"] for t in listed.json()]
    assert len(listed.json()) == 2
