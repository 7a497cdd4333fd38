"""Women, not just studies: a study's pseudonymous patient key and its shifted study date
(DICOM PS3.15's Retain Longitudinal Temporal Information with Modified Dates option).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_key", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("study_date", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_studies_patient_key"), ["patient_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_studies_patient_key"))
        batch_op.drop_column("study_date")
        batch_op.drop_column("patient_key")
