"""A release sent as uploads, as the API and the release page both receive it: the two CSVs as
text and the DICOM files or zips as sources the importer can read more than once."""

from __future__ import annotations

from fastapi import Request, UploadFile
from sqlalchemy.orm import Session

from app.auth.deps import Principal
from app.auth.users import find_user
from app.core.errors import field_error
from app.export import release_import
from app.export.states import StartAs
from app.imaging.importer import Source


def uploaded_text(upload: UploadFile, field: str) -> str:
    try:
        return upload.file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise field_error(field, f"{upload.filename or field} is not UTF-8 text.") from None


def rereadable(upload: UploadFile, index: int) -> Source:
    def read() -> bytes:
        upload.file.seek(0)
        return upload.file.read()

    return Source(upload.filename or f"file-{index + 1}", read)


def import_uploads(
    request: Request,
    db: Session,
    principal: Principal,
    project_name: str,
    breast_csv: UploadFile,
    finding_csv: UploadFile,
    dicom: list[UploadFile] | None,
    start_as: StartAs | str,
    first_reader: str,
    override_reason: str = "",
) -> release_import.Intake:
    """A release sent as uploads (the API and the page)."""
    return release_import.import_release(
        db,
        request.app.state.imaging,
        principal.actor,
        project_name=project_name,
        breast_csv=uploaded_text(breast_csv, "breast_csv"),
        finding_csv=uploaded_text(finding_csv, "finding_csv"),
        dicom=[rereadable(u, n) for n, u in enumerate(dicom or []) if u.filename],
        start_as=start_as,
        first_reader=find_user(db, first_reader) if first_reader else None,
        override_reason=override_reason.strip() or None,
    )
