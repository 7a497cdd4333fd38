"""The reader-study pages for a project's evidence (issue 12): the reference standard and the
models listed, each imported from a page's form; a refused file comes back on the page with
its problems by line and nothing stored; a reader study created from the projects page with
its design and protocol, shown on the project page with each reader's progress per session."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.reading.models import ReadingProject, ReadingSession
from app.studies.models import AiModel, ReferenceTruth
from tests.helpers import login
from tests.reading.test_reader_study import API, _reader_study, _ready, study_world

__all__ = ["study_world"]


def test_reference_and_models_imported_from_their_pages(client, db, study_world) -> None:
    admin_headers, _, _, study_ids = study_world
    project = _reader_study(client, admin_headers, "Evidence pages")
    _ready(client, study_world, project)
    pid = project["id"]
    token = login(client, "admin")
    assert client.get(f"/projects/{pid}/reference").status_code == 200
    # a bad file: the problems by line, nothing stored
    bad = "study_id,laterality,truth,source,follow_up_months,date\n"
    bad += f"{study_ids[0]},R,cancer,pathology,,\nnope,L,normal,consensus,,\n"
    refused = client.post(
        f"/projects/{pid}/reference",
        data={"csrf_token": token},
        files={"file": ("ref.csv", bad.encode(), "text/csv")},
    )
    assert refused.status_code == 422
    assert 'id="upload-problems"' in refused.text
    assert "cancer" in refused.text
    assert db.scalar(select(func.count()).select_from(ReferenceTruth)) == 0
    good = "study_id,laterality,truth,source,follow_up_months,date\n" + "".join(
        f"{sid},{lat},normal,follow_up,24,\n" for sid in study_ids for lat in "RL"
    )
    stored = client.post(
        f"/projects/{pid}/reference",
        data={"csrf_token": token},
        files={"file": ("ref.csv", good.encode(), "text/csv")},
        follow_redirects=True,
    )
    assert stored.status_code == 200
    assert "Reference standard imported: 6 breasts" in stored.text
    assert 'id="without-truth"' not in stored.text
    # a model: one without its scores file is refused by name
    assert client.get(f"/projects/{pid}/models").status_code == 200
    missing = client.post(f"/projects/{pid}/models", data={"csrf_token": token, "name": "M"})
    assert missing.status_code == 422
    assert "Choose the model" in missing.text
    scores = "study_id,left_malignant,right_malignant\n" + "".join(
        f"{sid},0.2,0.4\n" for sid in study_ids
    )
    done = client.post(
        f"/projects/{pid}/models",
        data={"csrf_token": token, "name": "Screen AI", "shown_to_readers": "1"},
        files={"scores": ("s.csv", scores.encode(), "text/csv")},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert "AI: Screen AI imported: 6 breasts scored" in done.text
    model = db.scalar(select(AiModel))
    assert model.shown_to_readers is True
    # a second model under the same name: refused, nothing added
    again = client.post(
        f"/projects/{pid}/models",
        data={"csrf_token": token, "name": "Screen AI"},
        files={"scores": ("s.csv", scores.encode(), "text/csv")},
    )
    assert again.status_code == 409
    assert db.scalar(select(func.count()).select_from(AiModel)) == 1


def test_a_reader_study_created_from_the_projects_page(client, db, study_world) -> None:
    token = login(client, "admin")
    form = {
        "csrf_token": token,
        "name": "Form study",
        "design": "reader_study",
        "layout": "fully_crossed",
        "session_1": "Unaided",
        "session_2": "AI-aided",
        "aided_2": "1",
        "washout_days": "28",
        "order_seed": "77",
        "truth_basis": "reference",
        "assessment_scale": "0-6",
        "finding_birads": "2-5",
        "probability_rating": "1",
    }
    bad = client.post("/projects", data={**form, "order_seed": "12x"})
    assert bad.status_code == 422
    assert "order seed must be a whole number" in bad.text
    assert 'value="AI-aided"' in bad.text  # the form comes back as it was sent
    split = client.post("/projects", data={**form, "layout": "split_plot"})
    assert split.status_code == 422
    assert "split-plot design needs 2 to" in split.text
    assert db.scalar(select(func.count()).select_from(ReadingProject)) == 0
    created = client.post("/projects", data=form, follow_redirects=True)
    assert created.status_code == 200, created.text
    project = db.scalar(select(ReadingProject))
    assert project.design == "reader_study"
    assert project.order_seed == 77
    assert project.rules["assessment_scale"] == "0-6"
    assert project.rules["probability_rating"] is True
    sessions = db.scalars(select(ReadingSession).order_by(ReadingSession.number)).all()
    assert [(s.name, s.aided, s.washout_days) for s in sessions] == [
        ("Unaided", False, 0),
        ("AI-aided", True, 28),
    ]
    assert 'id="design"' in created.text
    assert "Reader study, fully crossed" in created.text


def test_the_project_page_shows_progress_per_reader_and_session(client, study_world) -> None:
    admin_headers, _, headers, _ = study_world
    project = _reader_study(client, admin_headers, "Progress")
    _ready(client, study_world, project)
    task = client.get(f"{API}/next", headers=headers["sr1"]).json()
    client.post(
        f"{API}/tasks/{task['id']}/exclude",
        json={"reason": "blurred", "version": 0},
        headers=headers["sr1"],
    )
    login(client, "admin")
    page = client.get(f"/projects/{project['id']}")
    assert page.status_code == 200
    table = page.text[page.text.index('id="session-progress"') :]
    rows = re.findall(
        r"<tr><td>(\w+)</td><td>([^<]+)</td><td>(\d+) / (\d+)</td><td>(\d+)</td>", table
    )
    assert ("sr1", "Unaided", "1", "3", "1") in rows
    assert ("sr2", "AI-aided", "0", "3", "0") in rows
    assert len(rows) == 6
