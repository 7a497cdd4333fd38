"""Every domain's models, imported so that ``Base.metadata`` is complete (Alembic, tests)."""

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, LoginFailures, User, UserSession
from app.core.database import Base

__all__ = ["ApiToken", "AuditEvent", "Base", "LoginFailures", "User", "UserSession"]
