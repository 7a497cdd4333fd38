"""The results page's figures are computed once per state of the project (issue 12's
benchmark: the page under 300 ms once computed): a second view of an unchanged project does
not recompute, and a new read, a reference import or a model import is seen at the next view."""

from __future__ import annotations

import random
import re

import pytest
from sqlalchemy import select

from app.auth.models import Role
from app.imaging.models import Study
from app.reading.models import ProjectStudy, ReadTask
from app.studies import figures_cache, project_accuracy, project_analysis
from app.studies.models import ReferenceTruth
from app.studies.states import Truth
from bench.results_page import build_reader_study, resubmit
from tests.helpers import bearer

ROC_TITLE = re.compile(r"<title>(rd\d) · (Session \d): AUC (\d\.\d{4})</title>")


@pytest.fixture(autouse=True)
def empty_cache():
    figures_cache.FIGURES.clear()
    yield
    figures_cache.FIGURES.clear()


@pytest.fixture
def study(db, accounts, admin):
    readers = [accounts.add(f"rd{k}", Role.READER).id for k in range(3)]
    return build_reader_study(db, readers, 30, 2, seed=3, name="Cached")


def _aucs(page: str) -> dict[tuple[str, str], str]:
    return {(reader, session): auc for reader, session, auc in ROC_TITLE.findall(page)}


def _count_calls(monkeypatch) -> dict[str, int]:
    calls = {"analysis": 0, "accuracy": 0}
    analyse, accuracy = project_analysis.analyse_project, project_accuracy.project_accuracy

    def counted_analysis(*args, **kwargs):
        calls["analysis"] += 1
        return analyse(*args, **kwargs)

    def counted_accuracy(*args, **kwargs):
        calls["accuracy"] += 1
        return accuracy(*args, **kwargs)

    monkeypatch.setattr(project_analysis, "analyse_project", counted_analysis)
    monkeypatch.setattr(project_accuracy, "project_accuracy", counted_accuracy)
    return calls


def _worst_read(db, project, reader: str, session: str) -> None:
    """A new read of the study with a malignant breast, rated as unsuspicious as can be,
    by ``reader`` in ``session``: it replaces their rating of that study."""
    row = db.execute(
        select(ReadTask)
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .join(ReferenceTruth, ReferenceTruth.project_study_id == ProjectStudy.id)
        .where(
            ProjectStudy.project_id == project.id,
            ReferenceTruth.truth == Truth.MALIGNANT,
            ReadTask.session.has(name=session),
            ReadTask.user.has(username=reader),
        )
        .order_by(ReadTask.id)
        .limit(1)
    ).scalar_one()
    resubmit(db, row, {"birads": 1, "density": "B", "probability": 0}, 12.0)


def test_a_second_view_does_not_recompute_and_a_new_read_is_seen(
    client, db, study, monkeypatch
) -> None:
    headers = bearer(client, "admin")
    calls = _count_calls(monkeypatch)
    url = f"/projects/{study.id}/results"
    first = client.get(url, headers=headers)
    assert first.status_code == 200, first.text
    before = _aucs(first.text)
    assert len(before) == 6
    assert calls == {"analysis": 1, "accuracy": 1}
    again = client.get(url, headers=headers)
    assert again.text == first.text
    api = f"/api/v1/studies/projects/{study.id}"
    assert client.get(f"{api}/analysis", headers=headers).status_code == 200
    assert client.get(f"{api}/accuracy", headers=headers).status_code == 200
    assert calls == {"analysis": 1, "accuracy": 1}  # the API shares what the page computed

    _worst_read(db, study, "rd1", "Session 1")
    after = client.get(url, headers=headers)
    assert calls == {"analysis": 2, "accuracy": 2}
    changed = _aucs(after.text)
    assert changed[("rd1", "Session 1")] < before[("rd1", "Session 1")]
    assert {k: v for k, v in changed.items() if k != ("rd1", "Session 1")} == {
        k: v for k, v in before.items() if k != ("rd1", "Session 1")
    }
    # the figures are those of a fresh analysis of the project as it is now
    db.expire_all()
    monkeypatch.undo()
    recomputed = project_analysis.analyse_project(db, study)
    figure = next(
        f
        for f in recomputed.analysis.obuchowski_rockette.reader_figures
        if (f.reader, f.treatment) == ("rd1", "Session 1")
    )
    assert changed[("rd1", "Session 1")] == f"{figure.auc:.4f}"
    answer = client.get(f"{api}/analysis", headers=headers).json()
    assert answer == recomputed.to_dict()


def test_a_reference_or_model_import_changes_the_figures(client, db, study) -> None:
    headers = bearer(client, "admin")
    api = f"/api/v1/studies/projects/{study.id}"
    first = client.get(f"{api}/analysis", headers=headers).json()
    assert [m["reader"] for m in first["models"]] == ["AI: Triage"]
    studies = db.scalars(
        select(Study.study_id)
        .join(ProjectStudy, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == study.id)
        .order_by(ProjectStudy.id)
    ).all()
    # a reference import replaces rows in place: the same ids, new truths
    truths = [
        f"{sid},{lat},{'malignant' if k % 3 == 0 else 'normal'},pathology,,2024-03-01"
        for k, sid in enumerate(studies)
        for lat in ("R", "L")
    ]
    text = "study_id,laterality,truth,source,follow_up_months,date\n" + "\n".join(truths)
    stored = client.post(
        f"{api}/reference",
        files={"file": ("reference.csv", text.encode(), "text/csv")},
        headers=headers,
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["replaced"] == 2 * len(studies)
    second = client.get(f"{api}/analysis", headers=headers).json()
    assert second["analysis"]["study"]["diseased"] == 2 * len(range(0, len(studies), 3))
    assert second != first
    # a model import adds a reader to the comparison
    rng = random.Random(1)
    scores = "study_id,left_malignant,right_malignant\n" + "\n".join(
        f"{sid},{rng.random():.3f},{rng.random():.3f}" for sid in studies
    )
    model = client.post(
        f"{api}/models",
        data={"name": "Second", "description": "scripted"},
        files={"scores": ("scores.csv", scores.encode(), "text/csv")},
        headers=headers,
    )
    assert model.status_code == 201, model.text
    third = client.get(f"{api}/analysis", headers=headers).json()
    assert [m["reader"] for m in third["models"]] == ["AI: Triage", "AI: Second"]
    page = client.get(f"/projects/{study.id}/results", headers=headers)
    assert "AI: Second" in page.text


def test_the_key_follows_the_settings_and_the_database(db, study) -> None:
    key = figures_cache.evidence_key(db, study)
    assert figures_cache.evidence_key(db, study) == key
    study.rules = {**study.rules, "probability_rating": False}
    assert figures_cache.evidence_key(db, study) != key
    db.rollback()
    assert figures_cache.evidence_key(db, study)[0] == str(db.get_bind().url)


def test_a_project_that_cannot_be_analysed_is_refused_from_the_cache(
    client, db, accounts, admin
) -> None:
    readers = [accounts.add(f"qr{k}", Role.READER).id for k in range(2)]
    project = build_reader_study(db, readers, 6, 1, seed=4, name="Refused")
    db.query(ReferenceTruth).filter(ReferenceTruth.project_id == project.id).delete()
    db.commit()
    headers = bearer(client, "admin")
    url = f"/api/v1/studies/projects/{project.id}/analysis"
    for _ in range(2):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "not_analysable"
