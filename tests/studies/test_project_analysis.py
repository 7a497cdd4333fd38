"""The MRMC analysis of a reading project's own reads (issue 12): scripted readers read a
two-session reader study through the API; the analysis takes one case per breast, the
probability ratings, the reference standard, leaves out an excluded case with its reason, and
its per-reader AUCs equal scikit-learn's on the same ratings."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score
from sqlalchemy import select

from app.reading.models import ProjectStudy
from app.studies.analysis import analyse
from app.studies.models import ReferenceTruth
from app.studies.ratings_table import read_ratings_csv
from app.studies.states import Truth, TruthSource
from tests.helpers import assert_error
from tests.reading.test_reader_study import API, study_world

__all__ = ["study_world"]

DISEASED = {("R", 0), ("L", 1), ("R", 2)}  # (breast, study index) with cancer


def _probability(reader: str, session: int, study: int, lat: str) -> int:
    """A scripted reader's rating: higher for the diseased breasts, with reader noise."""
    base = 70 if (lat, study) in DISEASED else 20
    noise = zlib.crc32(f"{reader}:{session}:{study}:{lat}".encode()) % 91 - 45
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


@dataclass
class ScriptedStudy:
    project_id: int
    study_ids: list[str]
    excluded: str
    truths: dict[str, bool]
    ratings: dict[tuple[str, str, str], int]
    calls: dict[tuple[str, str, str], int]


def read_scripted_study(client, db, study_world) -> ScriptedStudy:
    """A seed-002-shaped study read through the API: two sessions, three scripted readers,
    the reference standard, reader sr2 excluding the third study in the aided session."""
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
    waiting = client.get(f"/projects/{pid}/results", headers=admin_headers)
    assert waiting.status_code == 200
    assert 'id="not-analysable"' in waiting.text
    truths = _truths(db, pid, study_ids)
    ratings: dict[tuple[str, str, str], int] = {}
    calls: dict[tuple[str, str, str], int] = {}
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
                # a high probability is called back (BI-RADS 0: recall, needs no box)
                birads = 0 if value >= 50 else 1
                calls[(name, task["session"]["name"], f"{task['study_id']}/{lat}")] = birads
                breasts[lat] = {"birads": birads, "density": "B", "probability": value}
            done = client.post(
                f"{API}/tasks/{task['id']}/submit",
                json={"label": {"breasts": breasts}, "version": 0},
                headers=headers[name],
            )
            assert done.status_code == 200, done.text
    return ScriptedStudy(pid, study_ids, excluded, truths, ratings, calls)


def test_the_analysis_of_a_projects_reads(client, db, study_world) -> None:
    admin_headers, _, headers, _ = study_world
    scripted = read_scripted_study(client, db, study_world)
    pid, excluded = scripted.project_id, scripted.excluded
    truths, ratings, calls = scripted.truths, scripted.ratings, scripted.calls
    analysis_url = f"/api/v1/studies/projects/{pid}/analysis"
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
    # the same table for MRMCaov: read back and analysed, it gives the same AUCs
    ratings_url = f"/api/v1/studies/projects/{pid}/ratings"
    exported = client.get(ratings_url, headers=admin_headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == (
        f'attachment; filename="project-{pid}-reference-truth.csv"'
    )
    assert exported.text.splitlines()[0] == "reader,treatment,case,truth,rating"
    again = analyse(read_ratings_csv(exported.content))
    assert [f.auc for f in again.obuchowski_rockette.reader_figures] == pytest.approx(
        [f["auc"] for f in figures], abs=1e-12
    )
    # and for iMRMC (and RJafroc): counts, a truth line per case, a line per reading
    imrmc = client.get(ratings_url, params={"layout": "imrmc"}, headers=admin_headers)
    assert imrmc.status_code == 200
    lines = imrmc.text.splitlines()
    assert [line for line in lines if line.split(":")[0] in ("NR", "N0", "N1", "NM")] == [
        "NR: 3",
        "N0: 2",
        "N1: 2",
        "NM: 2",
    ]
    data = lines[lines.index("BEGIN DATA:") + 1 :]
    truth_lines = [line for line in data if line.startswith("-1,")]
    assert sorted(line.rsplit(",", 1)[1] for line in truth_lines) == ["0", "0", "1", "1"]
    assert len(data) - len(truth_lines) == 3 * 2 * 4
    assert "Against the reference standard" in imrmc.text
    # seed 002's tables: each reader's confusion matrix equals scikit-learn's on the same calls
    tables = client.get(f"/api/v1/studies/projects/{pid}/accuracy", headers=admin_headers)
    assert tables.status_code == 200, tables.text
    tables = tables.json()
    assert tables["groups"] == ["1", "2-3", "0-4-5"]
    assert tables["exclusions"] == [
        {"reader": "sr2", "session": "Aided", "study_id": excluded, "reason": "Motion blur"}
    ]
    assert len(tables["readers"]) == 6
    for row in tables["readers"]:
        mine = {c: b for (r, s, c), b in calls.items() if (r, s) == (row["reader"], row["session"])}
        cases = sorted(mine)
        expected = confusion_matrix(
            [2 if truths[c] else 0 for c in cases],
            [0 if mine[c] == 1 else 2 for c in cases],
            labels=[0, 1, 2],
        )
        assert row["accuracy"]["confusion"] == expected.tolist()
        assert row["breasts"] == len(cases)
        assert row["seconds_per_case"] is not None
        recall = row["accuracy"]["per_group"][2]["sensitivity"]
        assert recall["n"] == sum(truths[c] for c in cases)
    # the results page shows the same: MRMC, the left-out breasts, the tables, the exclusion
    page = client.get(f"/projects/{pid}/results", headers=admin_headers)
    assert page.status_code == 200, page.text
    for part in ('id="forest-plot"', 'id="dropped"', 'id="group-accuracy"', 'id="exclusions"'):
        assert part in page.text
    assert "Motion blur" in page.text
    assert "Against the reference standard" in page.text
    vindr = client.get(f"/projects/{pid}/results?mapping=vindr", headers=admin_headers)
    assert "Sens. 3-5" in vindr.text
    averaged = {a["session"]: a for a in tables["reader_averaged"]}
    assert set(averaged) == {"Aided", "Unaided"}
    assert averaged["Unaided"]["readers"] == 3
