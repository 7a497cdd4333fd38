"""Hardening: the pseudonymisation scheme of each image; owners and heartbeats (leases) of
export jobs and import batches, so only work whose owner stopped is failed or swept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.database import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = ("export_jobs", "import_batches")


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        # images imported before this revision were named by VinDr's unsalted MD5
        batch_op.add_column(
            sa.Column(
                "pseudonym_scheme", sa.String(length=16), nullable=False, server_default="md5"
            )
        )
    for table in LEASED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("owner", sa.String(length=120), nullable=True))
            batch_op.add_column(sa.Column("heartbeat_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    for table in reversed(LEASED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("heartbeat_at")
            batch_op.drop_column("owner")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("pseudonym_scheme")
