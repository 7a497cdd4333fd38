"""A release's studies enter their reading project as picked or pasted studies do (issue 11,
reading leftovers): a study missing a view or with an open QC flag refuses the release, each
such study named with what it lacks, and nothing of the project is stored, unless the import's
override gives a reason, recorded as the study's ``admission_override`` and in the audit log."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.audit.service import Actor
from app.core.errors import Invalid
from app.export.release_import import import_release
from app.imaging.importer import Source, import_sources
from app.imaging.models import Image, QcFlag, Study
from app.imaging.states import ImportChannel
from app.reading.models import ProjectStudy, ReadingProject
from tests.export.conftest import Release, build_release, release_files
from tests.helpers import assert_error, bearer, login
from tests.imaging.helpers import dataset_bytes

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def without_view(release: Release, study: int, view: str) -> tuple[Release, str, str]:
    """The release with one view of one study left out of both CSVs (its DICOM file stays in
    the folder, unreferenced, so it is ignored); and that study's id and image id."""
    study_dir = sorted(release.dicom_dir.iterdir())[study]
    lines = release.breast_csv.splitlines(keepends=True)
    rows = [line for line in lines if line.startswith(study_dir.name)]
    laterality, position = view.split("-")
    (row,) = [r for r in rows if f",{laterality},{position}," in r]
    image_id = row.split(",")[2]

    def drop(text: str) -> str:
        return "".join(line for line in text.splitlines(keepends=True) if image_id not in line)

    changed = Release(
        release.dicom_dir,
        drop(release.breast_csv),
        drop(release.finding_csv),
        [i for i in release.image_ids if i != image_id],
    )
    return changed, study_dir.name, image_id


def flipped(path: Path) -> None:
    """Mirror the image's pixels: the chest wall on the wrong side, which only the import finds
    (an open laterality QC flag)."""
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.pixel_array[:, ::-1].copy().tobytes()
    path.write_bytes(dataset_bytes(ds))


def sources(release: Release) -> list[Source]:
    return [Source(str(p), p.read_bytes) for p in sorted(release.dicom_dir.rglob("*.dicom"))]


def count(db, table) -> int:
    return db.scalar(select(func.count()).select_from(table))


def test_a_study_missing_a_view_refuses_the_release_before_any_file_is_stored(
    client, db, admin, tmp_path
) -> None:
    release, study_id, _ = without_view(build_release(tmp_path / "r"), 1, "L-MLO")
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Three views"},
        files=release_files(release),
        headers=bearer(client, "admin"),
    )
    error = assert_error(response, 422, "incomplete_studies")
    assert error["message"].startswith("The release was not imported: 1 study is not complete.")
    assert f"{study_id}: not complete (missing L-MLO)" in error["message"]
    assert "override" in error["message"]
    (detail,) = error["details"]
    assert detail["study_id"] == study_id
    assert detail["reasons"] == ["missing L-MLO"]
    assert detail["override_allowed"] is True
    assert "stored" not in error["message"]  # checked before the import: nothing to keep
    assert count(db, Image) == 0
    assert count(db, ReadingProject) == 0
    assert count(db, ProjectStudy) == 0


def test_an_open_qc_flag_of_a_stored_study_refuses_the_release(
    client, app, db, admin, tmp_path
) -> None:
    release = build_release(tmp_path / "r")
    actor = Actor(None, None, "test")
    import_sources(db, app.state.imaging, sources(release), actor=actor, channel=ImportChannel.CLI)
    study_id = sorted(release.dicom_dir.iterdir())[2].name
    study_pk = db.scalar(select(Study.id).where(Study.study_id == study_id))
    db.add(QcFlag(study_pk=study_pk, kind="burned_in_text", detail="Text at the top left."))
    db.commit()
    images = count(db, Image)
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Flagged"},
        files=release_files(release, dicom=False),
        headers=bearer(client, "admin"),
    )
    error = assert_error(response, 422, "incomplete_studies")
    (detail,) = error["details"]
    assert detail["study_id"] == study_id
    assert detail["reasons"] == ["open QC flag: Text burned into the pixels (Text at the top left)"]
    assert count(db, ReadingProject) == 0
    assert count(db, Image) == images


def test_a_flag_the_import_finds_refuses_the_release_and_keeps_the_images(
    client, db, admin, tmp_path
) -> None:
    release = build_release(tmp_path / "r")
    study_dir = sorted(release.dicom_dir.iterdir())[3]
    flipped(next(study_dir.iterdir()))
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Mirrored"},
        files=release_files(release),
        headers=bearer(client, "admin"),
    )
    error = assert_error(response, 422, "incomplete_studies")
    (detail,) = error["details"]
    assert detail["study_id"] == study_dir.name
    assert any(reason.startswith("open QC flag: ") for reason in detail["reasons"])
    assert "The 16 accepted images are stored" in error["message"]
    assert count(db, ReadingProject) == 0
    assert count(db, ProjectStudy) == 0
    assert count(db, Image) == 16  # recognised when the release is sent again


@pytest.mark.parametrize("start_as", ["final", "first_read"])
def test_the_import_override_admits_them_with_its_reason_recorded(
    app, db, accounts, admin, tmp_path, start_as
) -> None:
    senior = accounts.add("senior")
    release, study_id, _ = without_view(build_release(tmp_path / "r"), 0, "R-CC")
    kit = app.state.imaging
    options = {
        "project_name": "Overridden",
        "breast_csv": release.breast_csv,
        "finding_csv": release.finding_csv,
        "dicom": sources(release),
        "start_as": start_as,
        "first_reader": senior if start_as == "first_read" else None,
    }
    actor = Actor(admin, None)
    with pytest.raises(Invalid) as refused:
        import_release(db, kit, actor, **options, override_reason="   ")  # blank: no override
    assert refused.value.code == "incomplete_studies"
    db.rollback()
    with pytest.raises(Invalid) as long:
        import_release(db, kit, actor, **options, override_reason="x" * 2001)
    assert long.value.details == [
        {"field": "override_reason", "message": long.value.details[0]["message"]}
    ]
    db.rollback()
    reason = "  R-CC retaken elsewhere; the release labels three views  "
    intake = import_release(db, kit, actor, **options, override_reason=reason)
    assert intake.studies == 4
    overrides = dict(
        db.execute(
            select(Study.study_id, ProjectStudy.admission_override)
            .join(Study, ProjectStudy.study_pk == Study.id)
            .where(ProjectStudy.project_id == intake.project.id)
        ).all()
    )
    assert overrides.pop(study_id) == reason.strip()
    assert set(overrides.values()) == {None}  # the complete ones carry no override
    (event,) = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "project.studies_admitted_incomplete")
    ).all()
    assert event.object_id == str(intake.project.id)
    assert event.details == {"study_ids": [study_id], "reason": reason.strip()}


def test_the_override_reaches_the_api_and_the_page(client, db, admin, tmp_path) -> None:
    release, study_id, _ = without_view(build_release(tmp_path / "r"), 1, "L-MLO")
    reason = "L-MLO taken at another site"
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Three views, API", "override_reason": reason},
        files=release_files(release),
        headers=bearer(client, "admin"),
    )
    assert response.status_code == 201, response.text
    project_id = response.json()["project_id"]
    stored = db.scalar(
        select(ProjectStudy.admission_override)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project_id, Study.study_id == study_id)
    )
    assert stored == reason
    # the page: refused with the field kept empty, then imported with a reason
    csrf = login(client, "admin")
    assert 'name="override_reason"' in client.get("/releases/import").text
    # the same release again: the store now holds every view but the one never sent
    again, same_study, _ = without_view(build_release(tmp_path / "p"), 1, "L-MLO")
    refused = client.post(
        "/releases/import",
        data={"csrf_token": csrf, "project_name": "Three views, page"},
        files=release_files(again),
    )
    assert refused.status_code == 422
    assert f"{same_study}: not complete (missing L-MLO)" in refused.text
    done = client.post(
        "/releases/import",
        data={"csrf_token": csrf, "project_name": "Three views, page", "override_reason": reason},
        files=release_files(again),
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
