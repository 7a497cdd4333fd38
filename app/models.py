"""Every domain's models, imported so that ``Base.metadata`` is complete (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, LoginFailures, User, UserSession
from app.core.database import Base
from app.imaging.models import Image, ImportBatch, QcFlag, Study

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Image",
    "ImportBatch",
    "LoginFailures",
    "QcFlag",
    "Study",
    "User",
    "UserSession",
]
