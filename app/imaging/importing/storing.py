"""One prepared image written: its files first (the DICOM, then its Zarr pyramid; each file
whole or not at all), then its rows (the study created if new, the image, its QC flags) in one
transaction; the files are removed again if that fails. The study's view flags follow
(``view_flags``)."""

from __future__ import annotations

import contextlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.database import begin_write
from app.imaging import stored_pyramid
from app.imaging.importing.preparing import Prepared
from app.imaging.importing.view_flags import refresh_view_flags
from app.imaging.kit import ImagingKit
from app.imaging.models import Image, QcFlag, Study
from app.imaging.states import PyramidFormat
from app.imaging.storage import StorageUnavailable, dicom_key


def store(db: Session, kit: ImagingKit, prepared: Prepared, batch_id: int) -> Image:
    """Write ``prepared`` and commit; an IntegrityError when the same image was stored
    concurrently (its files are then that import's and stay)."""
    file_key = dicom_key(prepared.study_id, prepared.image_id)
    pyramid = stored_pyramid.files(
        prepared.study_id, prepared.image_id, prepared.levels, prepared.pixel_offset
    )
    files = {file_key: prepared.file_bytes, **pyramid}
    keys = list(files)  # removing one never written is no error
    try:
        for key, data in files.items():
            kit.store.put(key, data)
        # the checks read in a transaction of their own; the rows are written under the
        # write lock (SQLite: a read transaction cannot become a write one when others wrote)
        if db.in_transaction():
            db.commit()
        begin_write(db)
        image = _insert(db, prepared, file_key, batch_id)
        db.commit()
    except BaseException:
        db.rollback()
        # a concurrent import of the same image owns these keys once its row is committed
        if db.scalar(select(Image.id).where(Image.image_id == prepared.image_id)) is None:
            for key in keys:
                # a store that does not answer keeps an object no row names: the sweep's
                with contextlib.suppress(StorageUnavailable):
                    kit.store.delete(key)
        raise
    return image


def _insert(db: Session, prepared: Prepared, file_key: str, batch_id: int) -> Image:
    meta = prepared.meta
    study = _study(db, prepared)
    image = Image(
        image_id=prepared.image_id,
        series_id=prepared.series_id,
        study_pk=study.id,
        laterality=meta.laterality,
        view=meta.view,
        rows=meta.rows,
        columns=meta.columns,
        bits_stored=meta.bits_stored,
        photometric=meta.photometric,
        presentation_intent=meta.presentation_intent,
        modality=meta.modality,
        manufacturer=meta.manufacturer,
        model=meta.model,
        pixel_spacing=meta.pixel_spacing,
        transfer_syntax=meta.transfer_syntax,
        display=prepared.display.to_json(),
        pyramid_widths=[int(level.shape[1]) for level in prepared.levels],
        pyramid_format=PyramidFormat.ZARR,
        pixel_offset=prepared.pixel_offset,
        chest_wall_side=prepared.chest_wall_side,
        file_key=file_key,
        file_size=len(prepared.file_bytes),
        import_batch_id=batch_id,
        pseudonym_scheme=prepared.pseudonym_scheme,
    )
    db.add(image)
    db.flush()
    for finding in prepared.findings:
        db.add(
            QcFlag(study_pk=study.id, image_pk=image.id, kind=finding.kind, detail=finding.detail)
        )
    db.flush()
    refresh_view_flags(db, study)
    return image


def _study(db: Session, prepared: Prepared) -> Study:
    """The image's study, created if new; a study created concurrently is simply used."""
    found = select(Study).where(Study.study_id == prepared.study_id)
    study = db.scalar(found)
    if study is not None:
        return study
    try:
        with db.begin_nested():
            study = Study(
                study_id=prepared.study_id,
                patient_age=prepared.meta.patient_age,
                patient_sex=prepared.meta.patient_sex,
                patient_key=prepared.patient_key,
                study_date=prepared.study_date,
            )
            db.add(study)
    except IntegrityError:
        return db.scalars(found).one()
    return study
