"""Admission override: a study that is not complete (missing views, open QC flags) enters a
reading project only with an explicit reason, recorded on the project's study row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project_studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admission_override", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("project_studies", schema=None) as batch_op:
        batch_op.drop_column("admission_override")
