"""The compact tiled pyramid: how an image's pyramid is stored (one .npy file per level before
this revision; a Zarr v3 group of compressed tiles from now on) and where its DICOM keeps the
full-resolution pixels when it keeps them plainly.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pyramid_format", sa.String(length=16), server_default="npy", nullable=False)
        )
        batch_op.add_column(sa.Column("pixel_offset", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("pixel_offset")
        batch_op.drop_column("pyramid_format")
