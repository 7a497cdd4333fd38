"""The MRMC analysis of a reading project's own reads (issue 12): scripted readers read a
two-session reader study through the API; the analysis takes one case per breast, the
probability ratings, the reference standard, leaves out an excluded case with its reason, and
its per-reader AUCs equal scikit-learn's on the same ratings."""

from __future__ import annotations

import zlib

import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from app.reading.models import ProjectStudy
from app.studies.models import ReferenceTruth
from app.studies.states import Truth, TruthSource
from tests.helpers import assert_error
from tests.reading.test_reader_study import API, study_world

__all__ = ["study_world"]

DISEASED = {("R", 0), ("L", 1), ("R", 2)}  # (breast, study index) with cancer


def _probability(reader: str, session: int, study: int, lat: str) -> int:
    """A scripted reader's rating: higher for the diseased breasts, with reader noise."""
    base = 70 if (lat, study) in DISEASED else 20
    noise = zlib.crc32(f"{reader}:{session}:{study}:{lat}".encode()) % 41 - 20
    return max(0, min(100, base + noise))


def _truths(db, project_id: int, study_ids: list[str]) -> dict[str, bool]:
    rows = db.scalars(select(ProjectStudy).where(ProjectStudy.project_id == project_id)).all()
    truths = {}
    for project_study in rows:
        index = study_ids.index(project_study.study.study_id)
        for lat in ("R", "L"):
            diseased = (lat, index) in DISEASED
            db.add(
                ReferenceTruth(
                    project_id=project_id,
                    project_study_id=project_study.id,
                    laterality=lat,
                    truth=Truth.MALIGNANT if diseased else Truth.NORMAL,
                    source=TruthSource.PATHOLOGY if diseased else TruthSource.FOLLOW_UP,
                    follow_up_months=None if diseased else 24,
                )
            )
            truths[f"{project_study.study.study_id}/{lat}"] = diseased
    db.commit()
    return truths


def test_the_analysis_of_a_projects_reads(client, db, study_world) -> None:
    admin_headers, readers, headers, study_ids = study_world
    body = {
        "name": "Seed 002 shaped",
        "design": "reader_study",
        "sessions": [{"name": "Unaided"}, {"name": "Aided", "aided": True}],
        "rules": {"probability_rating": True, "assessment_scale": "0-6", "finding_birads": "2-5"},
    }
    project = client.post(f"{API}/projects", json=body, headers=admin_headers).json()
    pid = project["id"]
    analysis_url = f"/api/v1/studies/projects/{pid}/analysis"
    client.put(
        f"{API}/projects/{pid}/pools",
        json={"readers": list(readers.values())},
        headers=admin_headers,
    )
    client.post(
        f"{API}/projects/{pid}/studies", json={"study_ids": study_ids}, headers=admin_headers
    )
    client.post(f"{API}/projects/{pid}/assign", json={}, headers=admin_headers)
    assert_error(client.get(analysis_url, headers=admin_headers), 409, "not_analysable")
    truths = _truths(db, pid, study_ids)
    ratings: dict[tuple[str, str, str], int] = {}
    excluded = study_ids[2]
    for name in readers:
        while True:
            response = client.get(f"{API}/next", headers=headers[name])
            if response.status_code == 404:
                break
            task = response.json()
            session = task["session"]["number"]
            study = study_ids.index(task["study_id"])
            if name == "sr2" and session == 2 and task["study_id"] == excluded:
                done = client.post(
                    f"{API}/tasks/{task['id']}/exclude",
                    json={"reason": "Motion blur", "version": 0},
                    headers=headers[name],
                )
                assert done.status_code == 200, done.text
                continue
            breasts = {}
            for lat in ("R", "L"):
                value = _probability(name, session, study, lat)
                ratings[(name, task["session"]["name"], f"{task['study_id']}/{lat}")] = value
                breasts[lat] = {"birads": 1, "density": "B", "probability": value}
            done = client.post(
                f"{API}/tasks/{task['id']}/submit",
                json={"label": {"breasts": breasts}, "version": 0},
                headers=headers[name],
            )
            assert done.status_code == 200, done.text
    # reader sr2 excluded the third study in session 2: both its breasts leave the table
    answer = client.get(analysis_url, headers=admin_headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["rating"] == "probability"
    assert result["truth_basis"] == "reference"
    assert result["cases_used"] == 4
    assert sorted(d["case"] for d in result["dropped"]) == [f"{excluded}/L", f"{excluded}/R"]
    assert all("excluded by sr2 in Aided: Motion blur" in d["reasons"] for d in result["dropped"])
    study_shape = result["analysis"]["study"]
    assert study_shape["treatments"] == ["Aided", "Unaided"]
    assert study_shape["readers"] == ["sr1", "sr2", "sr3"]
    assert (study_shape["diseased"], study_shape["non_diseased"]) == (2, 2)
    # every per-reader AUC equals scikit-learn's on the same ratings
    kept = sorted(c for c in truths if not c.startswith(excluded))
    figures = result["analysis"]["obuchowski_rockette"]["reader_figures"]
    checked = 0
    for figure in figures:
        expected = roc_auc_score(
            [truths[c] for c in kept],
            [ratings[(figure["reader"], figure["treatment"], c)] for c in kept],
        )
        assert figure["auc"] == pytest.approx(expected, abs=1e-12)
        checked += 1
    assert checked == 6
    # a reader asks: 403
    assert client.get(analysis_url, headers=headers["sr1"]).status_code == 403
