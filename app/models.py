"""Every domain's models, imported so that ``Base.metadata`` is complete (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, LoginFailures, User, UserSession
from app.core.database import Base
from app.export.models import ExportJob
from app.imaging.models import Image, ImportBatch, QcFlag, Study
from app.masking.models import (
    MaskingComparison,
    MaskingImage,
    MaskingProject,
    MaskingReader,
    MaskingUndo,
)
from app.pacs.models import PacsRetrieval, PacsSource
from app.reading.models import (
    FinalLabelHistory,
    ProjectMember,
    ProjectStudy,
    ReadingProject,
    ReadingSession,
    ReadSubmission,
    ReadTask,
)
from app.studies.models import AiBox, AiBreastScore, AidShown, AiModel, ReferenceTruth

__all__ = [
    "AiBox",
    "AiBreastScore",
    "AiModel",
    "AidShown",
    "ApiToken",
    "AuditEvent",
    "Base",
    "ExportJob",
    "FinalLabelHistory",
    "Image",
    "ImportBatch",
    "LoginFailures",
    "MaskingComparison",
    "MaskingImage",
    "MaskingProject",
    "MaskingReader",
    "MaskingUndo",
    "PacsRetrieval",
    "PacsSource",
    "ProjectMember",
    "ProjectStudy",
    "QcFlag",
    "ReadSubmission",
    "ReadTask",
    "ReadingProject",
    "ReadingSession",
    "ReferenceTruth",
    "Study",
    "User",
    "UserSession",
]
