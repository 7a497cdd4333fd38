"""The AI's help in an aided session (issue 12 item 4): the shown model's breast scores and
marks for the reader's own task, recorded once as shown; nothing in an unaided session or for
another reader's task; an aided read accepts only marks it was shown, and says so with the
read."""

from __future__ import annotations

from sqlalchemy import func, select

from app.imaging.models import Image, Study
from app.reading.models import ReadSubmission
from app.studies.models import AidShown
from tests.helpers import assert_error
from tests.reading.test_reader_study import API, _reader_study, _ready, study_world

__all__ = ["study_world"]

SCORES = "study_id,left_malignant,right_malignant\n"
BOXES = "study_id,image_id,laterality,finding_categories,finding_birads,xmin,ymin,xmax,ymax,score\n"
LABEL = {"breasts": {lat: {"birads": 1, "density": "B", "probability": 5} for lat in ("R", "L")}}


def _model(client, db, pid: int, study_ids: list[str], headers, *, shown: bool = True) -> None:
    scores = SCORES + "".join(f"{sid},0.25,0.75\n" for sid in study_ids)
    boxes = BOXES
    for sid in study_ids:
        image = db.scalar(
            select(Image).join(Study).where(Study.study_id == sid, Image.laterality == "R")
        )
        boxes += f"{sid},{image.image_id},R,['Mass'],BI-RADS 4,10,12,40,44,0.9\n"
        boxes += f"{sid},{image.image_id},R,['Suspicious Calcification'],,50,50,60,60,0.4\n"
    response = client.post(
        f"/api/v1/studies/projects/{pid}/models",
        data={"name": "Helper", "shown_to_readers": str(shown)},
        files={
            "scores": ("scores.csv", scores.encode(), "text/csv"),
            "boxes": ("boxes.csv", boxes.encode(), "text/csv"),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text


def _aid_url(task_id: int) -> str:
    return f"/api/v1/studies/tasks/{task_id}/aid"


def test_an_aided_session_shows_the_model_and_records_what_was_taken(
    client, db, study_world
) -> None:
    admin_headers, _, headers, study_ids = study_world
    project = _reader_study(client, admin_headers, "Aided study")
    _ready(client, study_world, project)
    _model(client, db, project["id"], study_ids, admin_headers)
    reader = headers["sr1"]
    aided_tasks = []
    while True:
        response = client.get(f"{API}/next", headers=reader)
        if response.status_code == 404:
            break
        task = response.json()
        if not task["session"]["aided"]:
            # an unaided reading: the model's help is not there to be had
            assert_error(client.get(_aid_url(task["id"]), headers=reader), 409, "not_aided")
            body = {"label": LABEL, "version": 0}
            assert client.post(
                f"{API}/tasks/{task['id']}/submit", json=body, headers=reader
            ).is_success
            continue
        aided_tasks.append(task["id"])
        shown = client.get(_aid_url(task["id"]), headers=reader)
        assert shown.status_code == 200, shown.text
        aid = shown.json()
        assert aid["model"] == "AI: Helper"
        assert aid["breast_scores"] == {"L": 0.25, "R": 0.75}
        assert [m["score"] for m in aid["marks"]] == [0.9, 0.4]  # most confident first
        assert aid["marks"][0]["categories"] == ["Mass"]
        assert aid["marks"][0]["birads"] == 4
        # shown again (a reload): recorded once
        assert client.get(_aid_url(task["id"]), headers=reader).is_success
        rows = db.scalars(select(AidShown).where(AidShown.task_id == task["id"])).all()
        assert len(rows) == 1
        assert rows[0].box_ids == [m["id"] for m in aid["marks"]]
        # another reader's task is missing to them; a mark not shown is refused, nothing kept
        assert client.get(_aid_url(task["id"]), headers=headers["sr2"]).status_code == 404
        before = db.scalar(select(func.count()).select_from(ReadSubmission))
        refused = client.post(
            f"{API}/tasks/{task['id']}/submit",
            json={"label": LABEL, "version": 0, "aid": {"accepted": [999_999]}},
            headers=reader,
        )
        assert_error(refused, 422, "invalid")
        assert refused.json()["error"]["details"][0]["field"] == "aid"
        assert db.scalar(select(func.count()).select_from(ReadSubmission)) == before
        taken = aid["marks"][0]["id"]
        done = client.post(
            f"{API}/tasks/{task['id']}/submit",
            json={"label": LABEL, "version": 0, "aid": {"accepted": [taken]}},
            headers=reader,
        )
        assert done.status_code == 200, done.text
        submission = db.scalar(select(ReadSubmission).where(ReadSubmission.task_id == task["id"]))
        assert submission.aid == {"accepted": [taken]}
    assert len(aided_tasks) == 3


def test_without_a_shown_model_the_aid_says_so(client, db, study_world) -> None:
    admin_headers, _, headers, study_ids = study_world
    project = _reader_study(client, admin_headers, "Nothing shown")
    _ready(client, study_world, project)
    _model(client, db, project["id"], study_ids, admin_headers, shown=False)
    reader = headers["sr2"]
    while True:
        task = client.get(f"{API}/next", headers=reader).json()
        if task["session"]["aided"]:
            break
        client.post(
            f"{API}/tasks/{task['id']}/submit", json={"label": LABEL, "version": 0}, headers=reader
        )
    aid = client.get(_aid_url(task["id"]), headers=reader).json()
    assert aid["model"] is None
    assert aid["marks"] == []
    assert "No model" in aid["note"]
    assert db.scalar(select(func.count()).select_from(AidShown)) == 0
