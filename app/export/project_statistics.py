"""The dataset statistics of one reading project, read from the database: its final studies,
split as an export with default options splits them, streamed in batches into the pure
:class:`app.export.dataset_statistics.Accumulator`; open QC flags over all its studies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.export import dataset_statistics, reading_export
from app.reading import queries
from app.reading.models import ReadingProject
from app.reading.states import StudyStatus


def collect(db: Session, project: ReadingProject) -> dataset_statistics.Statistics:
    """The project's statistics, streamed study by study (counters only)."""
    splits = reading_export.study_splits(db, project, reading_export.Options())
    accumulator = dataset_statistics.Accumulator()
    for batch in reading_export.batches(
        db, reading_export.study_ids(db, project, [StudyStatus.FINAL])
    ):
        for study in batch:
            accumulator.add_study(
                study.split(splits),
                study.label,
                [image.image_id for image in study.images],
                study.patient_age,
                study.patient_key,
                study.study_id,
            )
    for kind, studies in queries.open_flag_studies(db, project):
        accumulator.add_qc(kind, studies)
    return accumulator.result()
