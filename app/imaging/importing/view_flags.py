"""A study's view flags: missing and duplicate standard views are not a fact of one image but of
the study's images together, so they are derived again from the study each time an image
joins it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imaging import qc
from app.imaging.models import Image, QcFlag, Study


def refresh_view_flags(db: Session, study: Study) -> None:
    """Missing and duplicate views are derived from the study's images: open flags follow them
    (an import that completes a study removes its "missing" flag); cleared ones stay cleared."""
    rows = db.execute(select(Image.laterality, Image.view).where(Image.study_pk == study.id))
    names = [qc.view_name(laterality, view) for laterality, view in rows]
    wanted = {(finding.kind, finding.detail) for finding in qc.view_findings(names)}
    existing = db.scalars(
        select(QcFlag).where(QcFlag.study_pk == study.id, QcFlag.kind.in_(qc.VIEW_FLAGS))
    ).all()
    for flag in existing:
        if flag.cleared_at is None and (flag.kind, flag.detail) not in wanted:
            db.delete(flag)
    known = {(flag.kind, flag.detail) for flag in existing}
    for kind, detail in sorted(wanted - known):
        db.add(QcFlag(study_pk=study.id, kind=kind, detail=detail))
