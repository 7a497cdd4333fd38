"""Imaging: studies, images, QC flags, import history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.database import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("patient_age", sa.Integer(), nullable=True),
        sa.Column("patient_sex", sa.String(length=1), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
        sa.UniqueConstraint("study_id", name=op.f("uq_studies_study_id")),
    )
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("already_present", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_import_batches_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=32), nullable=False),
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("study_pk", sa.Integer(), nullable=False),
        sa.Column("laterality", sa.String(length=1), nullable=True),
        sa.Column("view", sa.String(length=16), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("columns", sa.Integer(), nullable=False),
        sa.Column("bits_stored", sa.Integer(), nullable=False),
        sa.Column("photometric", sa.String(length=16), nullable=False),
        sa.Column("presentation_intent", sa.String(length=32), nullable=True),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("pixel_spacing", sa.Float(), nullable=True),
        sa.Column("transfer_syntax", sa.String(length=64), nullable=False),
        sa.Column("display", sa.JSON(), nullable=False),
        sa.Column("pyramid_widths", sa.JSON(), nullable=False),
        sa.Column("chest_wall_side", sa.String(length=1), nullable=True),
        sa.Column("file_key", sa.String(length=255), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_batch_id"],
            ["import_batches.id"],
            name=op.f("fk_images_import_batch_id_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["study_pk"], ["studies.id"], name=op.f("fk_images_study_pk_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("image_id", name=op.f("uq_images_image_id")),
    )
    for column in ("laterality", "manufacturer", "series_id", "study_pk", "view"):
        op.create_index(op.f(f"ix_images_{column}"), "images", [column])
    op.create_table(
        "qc_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_pk", sa.Integer(), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
        sa.Column("cleared_by", sa.Integer(), nullable=True),
        sa.Column("clear_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cleared_by"], ["users.id"], name=op.f("fk_qc_flags_cleared_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["image_pk"], ["images.id"], name=op.f("fk_qc_flags_image_pk_images")
        ),
        sa.ForeignKeyConstraint(
            ["study_pk"], ["studies.id"], name=op.f("fk_qc_flags_study_pk_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_flags")),
    )
    for column in ("image_pk", "kind", "study_pk"):
        op.create_index(op.f(f"ix_qc_flags_{column}"), "qc_flags", [column])


def downgrade() -> None:
    for table in ("qc_flags", "images", "import_batches", "studies"):
        op.drop_table(table)
