"""PACS query and retrieve: configured DICOMweb sources (secret encrypted) and retrieval jobs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.database import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pacs_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("qido_root", sa.String(length=500), nullable=True),
        sa.Column("wado_root", sa.String(length=500), nullable=True),
        sa.Column("stow_root", sa.String(length=500), nullable=True),
        sa.Column("auth_kind", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_pacs_sources_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pacs_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_pacs_sources_name")),
    )
    op.create_table(
        "pacs_retrievals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("studies", sa.Integer(), nullable=False),
        sa.Column("study_uids", sa.JSON(), nullable=False),
        sa.Column("pending_uids", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("already_present", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("batch_ids", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_pacs_retrievals_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["pacs_sources.id"],
            name=op.f("fk_pacs_retrievals_source_id_pacs_sources"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pacs_retrievals")),
    )
    with op.batch_alter_table("pacs_retrievals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pacs_retrievals_source_id"), ["source_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pacs_retrievals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pacs_retrievals_source_id"))
    op.drop_table("pacs_retrievals")
    op.drop_table("pacs_sources")
