"""Masking display protocol: the one grey-scale function both images of a pair go through.

Projects created before this revision showed each image through its own header VOI, which is
what the value "header" describes; new projects default to "window_linear" (the model's).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("masking_projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "display_protocol", sa.String(length=16), nullable=False, server_default="header"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("masking_projects", schema=None) as batch_op:
        batch_op.drop_column("display_protocol")
