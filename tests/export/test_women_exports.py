"""Patient-aware datasets: a computed split keeps each woman on one side, the JSON and reads
exports carry her pseudonymous key and the shifted study date, and the VinDr CSVs keep
VinDr's columns exactly."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from app.export import split, vindr_format
from app.export.reading_export import READS_HEADER
from tests.export.test_export_api import READING, archive, export, tasks_of
from tests.helpers import bearer
from tests.imaging.helpers import exam_files, upload, women_files
from tests.reading.project_helpers import new_project
from tests.reading.test_reading_api import normal, submit, suspicious

features = st.lists(st.integers(0, 3), min_size=3, max_size=3)


@given(
    st.dictionaries(st.text("abcdef0123", min_size=4, max_size=4), features, max_size=40),
    st.lists(st.sampled_from(["w1", "w2", "w3", "w4", "w5", None]), min_size=40, max_size=40),
    st.integers(0, 5),
)
def test_no_woman_is_on_both_sides(by_study, women_list, seed) -> None:
    women = dict(zip(sorted(by_study), women_list, strict=False))
    result = split.assign_split(by_study, 0.7, seed, women=women)
    assert set(result) == set(by_study)
    assert split.women_on_both_sides(result, women) == []


@given(st.dictionaries(st.text("abcdef0123", min_size=4, max_size=4), features, max_size=40))
def test_without_women_the_split_is_the_study_level_one(by_study) -> None:
    """Studies of their own (no key, or one key each) split exactly as before grouping."""
    ungrouped = split.assign_split(by_study, 0.8, 2)
    folds = split.iterative_stratification([by_study[s] for s in sorted(by_study)], (0.8, 0.2), 2)
    assert ungrouped == {
        s: split.TRAINING if f == 0 else split.TEST
        for s, f in zip(sorted(by_study), folds, strict=True)
    }
    assert split.assign_split(by_study, 0.8, 2, women={s: f"w-{s}" for s in by_study}) == ungrouped


def test_kept_studies_stay_and_a_woman_follows_her_kept_side() -> None:
    by_study = {"s1": [1, 0], "s2": [0, 1], "s3": [1, 1], "s4": [0, 0]}
    women = {"s1": "w1", "s2": "w1", "s3": "w2", "s4": "w2"}
    result = split.assign_split(by_study, 0.5, 0, kept={"s1": "test"}, women=women)
    assert result["s1"] == result["s2"] == "test"
    # a published split that put a woman on both sides is kept, and said
    leaky = split.assign_split(by_study, 0.5, 0, kept={"s1": "test", "s2": "training"}, women=women)
    assert (leaky["s1"], leaky["s2"]) == ("test", "training")
    assert split.women_on_both_sides(leaky, women) == ["w1"]


def test_exports_keep_each_woman_on_one_side_and_carry_her_key(client, accounts, admin) -> None:
    for name in ("rd1", "rd2"):
        accounts.add(name)
    admin_h = bearer(client, "admin")
    readers = {name: bearer(client, name) for name in ("rd1", "rd2")}
    exams = [*women_files(940), *(exam_files(seed) for seed in range(950, 956))]
    study_ids, images = [], {}
    for files in exams:
        outcomes = upload(client, files, admin_h).json()["outcomes"]
        study_ids.append(outcomes[0]["study_id"])
        detail = client.get(f"/api/v1/studies/{study_ids[-1]}", headers=admin_h).json()
        images[study_ids[-1]] = {
            f"{i['laterality']}-{i['view']}": i["image_id"] for i in detail["images"]
        }
    users = {u["username"]: u["id"] for u in client.get("/api/v1/users", headers=admin_h).json()}
    project_id = new_project(
        client,
        admin_h,
        name="Women",
        readers=[users["rd1"], users["rd2"]],
        study_ids=study_ids,
        pairs=False,
    )
    for name in ("rd1", "rd2"):
        for n, (study, task_id) in enumerate(sorted(tasks_of(client, readers[name]).items())):
            label = suspicious(images[study]["R-CC"]) if n % 3 == 0 else normal()
            assert submit(client, readers[name], task_id, label).status_code == 200

    for seed in (0, 1, 2, 3):
        job = export(
            client, admin_h, project_id=project_id, format="json", split_ratio=0.5, split_seed=seed
        )
        body = json.loads(archive(client, admin_h, job).read("annotations.json"))
        studies = {s["study_id"]: s for s in body["studies"]}
        assert len(studies) == 10
        sides: dict[str, set[str]] = {}
        for study in studies.values():
            sides.setdefault(study["patient_key"], set()).add(study["split"])
        assert all(len(seen) == 1 for seen in sides.values()), sides
        if seed == 0:
            first = [studies[s] for s in study_ids[:4]]
            assert first[0]["patient_key"] == first[1]["patient_key"] != first[2]["patient_key"]
            assert first[0]["study_date"] < first[1]["study_date"]  # shifted, interval kept

    vindr = archive(client, admin_h, export(client, admin_h, project_id=project_id, format="vindr"))
    for name, header in (
        (vindr_format.BREAST_FILE, vindr_format.BREAST_HEADER),
        (vindr_format.FINDING_FILE, vindr_format.FINDING_HEADER),
    ):
        assert next(csv.reader(io.StringIO(vindr.read(name).decode()))) == list(header)
    reads = archive(client, admin_h, export(client, admin_h, project_id=project_id, format="reads"))
    rows = list(csv.DictReader(io.StringIO(reads.read("reads.csv").decode())))
    assert list(rows[0]) == READS_HEADER
    keyed = {row["study_id"]: (row["patient_key"], row["study_date"]) for row in rows}
    assert keyed[study_ids[0]] == (
        studies[study_ids[0]]["patient_key"],
        studies[study_ids[0]]["study_date"],
    )
    stats = client.get(f"{READING}/projects/{project_id}/statistics", headers=admin_h).json()
    totals = {row["row"]: row["counts"] for row in stats["tables"][0]["rows"]}
    assert totals["studies"]["all"] == 10
    assert totals["women"]["all"] == 8  # two women with two exams, six with one
    assert totals["women in training and test"] == {"training": 0, "test": 0, "all": 0}
