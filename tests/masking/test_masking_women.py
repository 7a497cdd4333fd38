"""Masking image selection by woman: CSAW-M's "the most recent MLO per woman", one breast or
both of her latest exam, or every exam; and one seed per woman across her exams."""

from __future__ import annotations

from sqlalchemy import select

from app.imaging.models import Image, Study
from app.masking.models import MaskingImage
from app.masking.states import ImageRole
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import upload, women_files

API = "/api/v1/masking"


def test_images_per_woman_come_from_her_latest_exam(client, db, accounts, admin) -> None:
    reader = accounts.add("rdw").id
    headers = bearer(client, "admin")
    outcomes = [upload(client, files, headers).json()["outcomes"] for files in women_files(960)]
    exams = [o[0]["study_id"] for o in outcomes]
    # two seeds of the women's first exams, CC views (the projects take MLOs)
    seeds = [outcomes[0][0]["image_id"], outcomes[2][0]["image_id"]]
    latest = {exams[1], exams[3]}  # WOMEN_EXAMS: each woman's second exam is her later one
    chosen = {}
    for per_woman in ("one", "both", "all"):
        body = {
            "name": f"Women {per_woman}",
            "per_woman": per_woman,
            "reader_ids": [reader],
            "seed_list": seeds,
        }
        response = client.post(f"{API}/projects", json=body, headers=headers)
        assert response.status_code == 201, response.text
        rows = db.execute(
            select(Study.study_id, Study.patient_key, Image.view, Image.laterality)
            .join(Image, Image.study_pk == Study.id)
            .join(MaskingImage, MaskingImage.image_pk == Image.id)
            .where(MaskingImage.project_id == response.json()["id"])
            .where(MaskingImage.role == ImageRole.QUERY)
        ).all()
        assert {view for _, _, view, _ in rows} == {"MLO"}
        chosen[per_woman] = rows
    assert len(chosen["one"]) == 2
    assert {study for study, *_ in chosen["one"]} == latest
    assert len({key for _, key, *_ in chosen["one"]}) == 2  # one image per woman
    assert len(chosen["both"]) == 4
    assert {study for study, *_ in chosen["both"]} == latest
    assert len(chosen["all"]) == 8


def test_two_exams_of_one_woman_cannot_both_seed(client, db, accounts, admin) -> None:
    reader = accounts.add("rdv").id
    headers = bearer(client, "admin")
    exams = [upload(client, files, headers).json()["outcomes"] for files in women_files(970)[:3]]
    # the first woman's two exams, one image of each: one woman, two studies
    seeds = [exams[0][0]["image_id"], exams[2][0]["image_id"], exams[1][0]["image_id"]]
    body = {"name": "Seeds", "reader_ids": [reader], "seed_list": seeds}
    error = assert_error(client.post(f"{API}/projects", json=body, headers=headers), 422)
    assert error["details"][0]["field"] == "seed_list"
    assert "same woman" in error["message"]
