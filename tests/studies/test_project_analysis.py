"""The MRMC analysis of a reading project's own reads (issue 12): scripted readers read a
two-session reader study through the API; the analysis takes one case per breast, the
probability ratings, the reference standard, leaves out an excluded case with its reason, and
its per-reader AUCs equal scikit-learn's on the same ratings."""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
import openpyxl
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from app.studies.analysis import analyse
from app.studies.ratings_table import read_ratings_csv
from tests.helpers import assert_error
from tests.reading.test_reader_study import API, study_world

__all__ = ["study_world"]

DISEASED = {("R", 0), ("L", 1), ("R", 2)}  # (breast, study index) with cancer


def _probability(reader: str, session: int, study: int, lat: str) -> int:
    """A scripted reader's rating: higher for the diseased breasts, with reader noise."""
    base = 70 if (lat, study) in DISEASED else 20
    noise = zlib.crc32(f"{reader}:{session}:{study}:{lat}".encode()) % 91 - 45
    return max(0, min(100, base + noise))


def _model_score(study: int, lat: str) -> float:
    """The scripted model's malignancy score: right on two diseased breasts, fooled once."""
    base = 0.8 if (lat, study) in DISEASED else 0.3
    return round(base + (zlib.crc32(f"model:{study}:{lat}".encode()) % 41 - 20) / 100, 2)


def _reference_and_model(client, pid: int, study_ids: list[str], headers) -> dict[str, bool]:
    """The reference standard and the model's scores, imported through the API as CSV."""
    reference = ["study_id,laterality,truth,source,follow_up_months,date"]
    scores = ["study_id,left_malignant,right_malignant"]
    truths = {}
    for index, study_id in enumerate(study_ids):
        for lat in ("R", "L"):
            diseased = (lat, index) in DISEASED
            reference.append(
                f"{study_id},{lat},malignant,pathology,,2024-03-01"
                if diseased
                else f"{study_id},{lat},normal,follow_up,24,2025-01-10"
            )
            truths[f"{study_id}/{lat}"] = diseased
        scores.append(f"{study_id},{_model_score(index, 'L')},{_model_score(index, 'R')}")
    stored = client.post(
        f"/api/v1/studies/projects/{pid}/reference",
        files={"file": ("reference.csv", "\n".join(reference).encode(), "text/csv")},
        headers=headers,
    )
    assert stored.status_code == 200, stored.text
    model = client.post(
        f"/api/v1/studies/projects/{pid}/models",
        data={"name": "Triage", "description": "scripted"},
        files={"scores": ("scores.csv", "\n".join(scores).encode(), "text/csv")},
        headers=headers,
    )
    assert model.status_code == 201, model.text
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
    truths = _reference_and_model(client, pid, study_ids, admin_headers)
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


def _jackknife_covariance(truth: list[bool], vectors: list[list[float]]) -> np.ndarray:
    """The jackknife covariance of the AUCs of ``vectors``, each case left out in turn and
    every AUC recomputed by scikit-learn (independent of app.stats)."""
    n = len(truth)
    values = np.array(
        [
            [
                roc_auc_score(
                    [t for k, t in enumerate(truth) if k != i],
                    [v for k, v in enumerate(vector) if k != i],
                )
                for vector in vectors
            ]
            for i in range(n)
        ]
    )
    centred = values - values.mean(axis=0)
    return (n - 1) / n * centred.T @ centred


def test_the_model_is_a_reader_in_the_analysis(client, db, study_world) -> None:
    """The imported model: its AUC, its ROC curve and the readers' average minus the model
    per session (random readers and cases: Hillis' single-treatment test), each checked
    against scikit-learn and a brute-force jackknife."""
    admin_headers, _, _, _ = study_world
    scripted = read_scripted_study(client, db, study_world)
    result = client.get(
        f"/api/v1/studies/projects/{scripted.project_id}/analysis", headers=admin_headers
    ).json()
    kept = sorted(c for c in scripted.truths if not c.startswith(scripted.excluded))
    truth = [scripted.truths[c] for c in kept]
    index = {sid: k for k, sid in enumerate(scripted.study_ids)}
    model = [_model_score(index[c.split("/")[0]], c.split("/")[1]) for c in kept]
    [figures] = result["models"]
    assert figures["reader"] == "AI: Triage"
    assert figures["breasts_scored"] == 4
    assert figures["reason"] is None
    assert figures["auc"]["auc"] == pytest.approx(roc_auc_score(truth, model), abs=1e-12)
    readers = ["sr1", "sr2", "sr3"]
    for versus in figures["versus_readers"]:
        session = versus["treatment"]
        vectors = [[scripted.ratings[(r, session, c)] for c in kept] for r in readers]
        aucs = [roc_auc_score(truth, v) for v in vectors]
        difference = np.mean(aucs) - roc_auc_score(truth, model)
        assert versus["rrrc"]["estimate"] == pytest.approx(difference, abs=1e-12)
        cov = _jackknife_covariance(truth, [*vectors, model])
        link = np.hstack([np.eye(3), -np.ones((3, 1))])
        cov_d = link @ cov @ link.T
        cov2 = cov_d[~np.eye(3, dtype=bool)].mean()
        ms_r = np.var(np.array(aucs) - roc_auc_score(truth, model), ddof=1)
        se = np.sqrt((ms_r + 3 * max(cov2, 0.0)) / 3)
        assert versus["rrrc"]["se"] == pytest.approx(se, abs=1e-12)
    # every reader's curve per session and the model's once, ending at (1, 1)
    curves = result["curves"]
    assert len(curves) == 3 * 2 + 1
    model_curve = curves[-1]
    assert model_curve["model"] is True
    assert model_curve["session"] is None
    assert model_curve["auc"] == pytest.approx(roc_auc_score(truth, model), abs=1e-12)
    assert (model_curve["fpr"][-1], model_curve["tpr"][-1]) == (1.0, 1.0)
    # the page draws the curves and the comparison
    page = client.get(f"/projects/{scripted.project_id}/results", headers=admin_headers).text
    assert 'id="roc-curves"' in page
    assert 'id="model-vs-readers"' in page
    assert "AI: Triage" in page


def test_one_vs_rest_aucs_for_readers_and_the_model(client, db, study_world) -> None:
    """Seed 002's Table 2 for a project: each reader's one-vs-rest AUC per group from their
    calls and the macro mean, equal to scikit-learn's; the model's malignant-vs-rest AUC."""
    admin_headers, _, _, _ = study_world
    scripted = read_scripted_study(client, db, study_world)
    tables = client.get(
        f"/api/v1/studies/projects/{scripted.project_id}/accuracy", headers=admin_headers
    ).json()
    for row in tables["readers"]:
        mine = {
            c: b
            for (r, s, c), b in scripted.calls.items()
            if (r, s) == (row["reader"], row["session"])
        }
        cases = sorted(mine)
        truth = [2 if scripted.truths[c] else 0 for c in cases]
        called = [0 if mine[c] == 1 else 2 for c in cases]
        aucs = row["auc"]
        assert aucs["classes"] == ["1", "2-3", "0-4-5"]
        for k in (0, 2):
            expected = roc_auc_score([t == k for t in truth], [c == k for c in called])
            assert aucs["per_class"][k] == pytest.approx(expected, abs=1e-12)
        assert aucs["per_class"][1] is None  # no benign breast in the truth
        assert aucs["macro"] == pytest.approx((aucs["per_class"][0] + aucs["per_class"][2]) / 2)
    index = {sid: k for k, sid in enumerate(scripted.study_ids)}
    cases = sorted(scripted.truths)
    [model] = tables["models"]
    assert model["reader"] == "AI: Triage"
    assert model["breasts"] == 6
    assert model["malignant_auc"] == pytest.approx(
        roc_auc_score(
            [scripted.truths[c] for c in cases],
            [_model_score(index[c.split("/")[0]], c.split("/")[1]) for c in cases],
        ),
        abs=1e-12,
    )
    page = client.get(f"/projects/{scripted.project_id}/results", headers=admin_headers).text
    assert 'id="group-aucs"' in page


def test_the_ratings_files_with_the_model_and_as_a_jafroc_workbook(client, db, study_world) -> None:
    admin_headers, _, _, _ = study_world
    scripted = read_scripted_study(client, db, study_world)
    url = f"/api/v1/studies/projects/{scripted.project_id}/ratings"
    plain = read_ratings_csv(client.get(url, headers=admin_headers).content)
    with_ai = client.get(url, params={"models": "true"}, headers=admin_headers)
    assert with_ai.status_code == 200
    assert "-with-ai.csv" in with_ai.headers["content-disposition"]
    study = read_ratings_csv(with_ai.content)
    assert study.readers == (*plain.readers, "AI: Triage")
    # the model's ratings are its scores, the same in both sessions
    model = study.scores[:, study.readers.index("AI: Triage"), :]
    assert (model[0] == model[1]).all()
    index = {sid: k for k, sid in enumerate(scripted.study_ids)}
    assert list(model[0]) == [
        _model_score(index[c.split("/")[0]], c.split("/")[1]) for c in study.cases
    ]
    workbook = client.get(url, params={"layout": "jafroc"}, headers=admin_headers)
    assert workbook.status_code == 200, workbook.text
    assert workbook.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheets = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True)
    assert sheets.sheetnames[:3] == ["TRUTH", "FP", "TP"]
    tp_rows = list(sheets["TP"].iter_rows(min_row=2, values_only=True))
    fp_rows = list(sheets["FP"].iter_rows(min_row=2, values_only=True))
    # 3 readers x 2 sessions x (2 diseased | 2 non-diseased) breasts
    assert (len(tp_rows), len(fp_rows)) == (12, 12)
