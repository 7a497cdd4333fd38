"""Masking projects: images, readers and their search state, the append-only comparison and
undo logs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core import append_only
from app.core.database import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "masking_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("level_rule", sa.String(length=16), nullable=False),
        sa.Column("levels", sa.Integer(), nullable=False),
        sa.Column("seeds_per_level", sa.Integer(), nullable=False),
        sa.Column("seed_list", sa.JSON(), nullable=False),
        sa.Column("level_seeds", sa.JSON(), nullable=True),
        sa.Column("derive_seeds_from", sa.Integer(), nullable=True),
        sa.Column("randomise_sides", sa.Boolean(), nullable=False),
        sa.Column("probe_share", sa.Float(), nullable=False),
        sa.Column("probe_gap", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("order_seed", sa.Integer(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_masking_projects_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["derive_seeds_from"],
            ["masking_projects.id"],
            name=op.f("fk_masking_projects_derive_seeds_from_masking_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masking_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_masking_projects_name")),
    )
    op.create_table(
        "masking_readers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("level_seeds", sa.JSON(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=True),
        sa.Column("pending_uid", sa.String(length=32), nullable=True),
        sa.Column("served", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("recent_ms", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["masking_projects.id"],
            name=op.f("fk_masking_readers_project_id_masking_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_masking_readers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masking_readers")),
        sa.UniqueConstraint("pending_uid", name=op.f("uq_masking_readers_pending_uid")),
        sa.UniqueConstraint("project_id", "user_id", name=op.f("uq_masking_readers_project_id")),
    )
    with op.batch_alter_table("masking_readers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_masking_readers_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_masking_readers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "masking_comparisons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("query_pk", sa.Integer(), nullable=False),
        sa.Column("reference_pk", sa.Integer(), nullable=False),
        sa.Column("query_side", sa.String(length=5), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("interval_low", sa.Integer(), nullable=False),
        sa.Column("interval_high", sa.Integer(), nullable=False),
        sa.Column("reference_position", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_position", sa.Integer(), nullable=True),
        sa.Column("search_before", sa.JSON(), nullable=True),
        sa.Column("probe_of", sa.Integer(), nullable=True),
        sa.Column("served_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=False),
        sa.Column("response_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_of"],
            ["masking_comparisons.id"],
            name=op.f("fk_masking_comparisons_probe_of_masking_comparisons"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["masking_projects.id"],
            name=op.f("fk_masking_comparisons_project_id_masking_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["query_pk"], ["images.id"], name=op.f("fk_masking_comparisons_query_pk_images")
        ),
        sa.ForeignKeyConstraint(
            ["reference_pk"], ["images.id"], name=op.f("fk_masking_comparisons_reference_pk_images")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_masking_comparisons_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masking_comparisons")),
        sa.UniqueConstraint("uid", name=op.f("uq_masking_comparisons_uid")),
    )
    with op.batch_alter_table("masking_comparisons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_masking_comparisons_reader", ["project_id", "user_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_masking_comparisons_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "masking_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image_pk", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_pk"], ["images.id"], name=op.f("fk_masking_images_image_pk_images")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["masking_projects.id"],
            name=op.f("fk_masking_images_project_id_masking_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masking_images")),
        sa.UniqueConstraint("project_id", "image_pk", name=op.f("uq_masking_images_project_id")),
    )
    with op.batch_alter_table("masking_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_masking_images_image_pk"), ["image_pk"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_masking_images_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "masking_undos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comparison_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("undone_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comparison_id"],
            ["masking_comparisons.id"],
            name=op.f("fk_masking_undos_comparison_id_masking_comparisons"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["masking_projects.id"],
            name=op.f("fk_masking_undos_project_id_masking_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_masking_undos_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masking_undos")),
        sa.UniqueConstraint("comparison_id", name=op.f("uq_masking_undos_comparison_id")),
    )
    with op.batch_alter_table("masking_undos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_masking_undos_project_id"), ["project_id"], unique=False
        )
    for table in ("masking_comparisons", "masking_undos"):
        append_only.protect(table)


def downgrade() -> None:
    for table in ("masking_comparisons", "masking_undos"):
        append_only.unprotect(table)
    for table in (
        "masking_undos",
        "masking_comparisons",
        "masking_images",
        "masking_readers",
        "masking_projects",
    ):
        op.drop_table(table)
