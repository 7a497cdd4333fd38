"""Reader studies: a project's design and sessions, tasks and reads per session (with
exclusions and what an aided read accepted), the reference standard, a model's predictions
and what an aided session showed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core import append_only

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ai_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("shown_to_readers", sa.Boolean(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["imported_by"], ["users.id"], name=op.f("fk_ai_models_imported_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["reading_projects.id"],
            name=op.f("fk_ai_models_project_id_reading_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_models")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_ai_models_project_id")),
    )
    op.create_index(op.f("ix_ai_models_project_id"), "ai_models", ["project_id"], unique=False)
    op.create_table(
        "reading_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("aided", sa.Boolean(), nullable=False),
        sa.Column("washout_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["reading_projects.id"],
            name=op.f("fk_reading_sessions_project_id_reading_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_sessions")),
        sa.UniqueConstraint("project_id", "number", name=op.f("uq_reading_sessions_project_id")),
    )
    op.create_index(
        op.f("ix_reading_sessions_project_id"), "reading_sessions", ["project_id"], unique=False
    )
    op.create_table(
        "ai_boxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("project_study_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=128), nullable=False),
        sa.Column("x_min", sa.Float(), nullable=False),
        sa.Column("y_min", sa.Float(), nullable=False),
        sa.Column("x_max", sa.Float(), nullable=False),
        sa.Column("y_max", sa.Float(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("birads", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["ai_models.id"], name=op.f("fk_ai_boxes_model_id_ai_models")
        ),
        sa.ForeignKeyConstraint(
            ["project_study_id"],
            ["project_studies.id"],
            name=op.f("fk_ai_boxes_project_study_id_project_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_boxes")),
    )
    op.create_index(op.f("ix_ai_boxes_model_id"), "ai_boxes", ["model_id"], unique=False)
    op.create_index(
        op.f("ix_ai_boxes_project_study_id"), "ai_boxes", ["project_study_id"], unique=False
    )
    op.create_table(
        "ai_breast_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("project_study_id", sa.Integer(), nullable=False),
        sa.Column("laterality", sa.String(length=1), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["ai_models.id"], name=op.f("fk_ai_breast_scores_model_id_ai_models")
        ),
        sa.ForeignKeyConstraint(
            ["project_study_id"],
            ["project_studies.id"],
            name=op.f("fk_ai_breast_scores_project_study_id_project_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_breast_scores")),
        sa.UniqueConstraint(
            "model_id", "project_study_id", "laterality", name=op.f("uq_ai_breast_scores_model_id")
        ),
    )
    op.create_index(
        op.f("ix_ai_breast_scores_model_id"), "ai_breast_scores", ["model_id"], unique=False
    )
    op.create_index(
        op.f("ix_ai_breast_scores_project_study_id"),
        "ai_breast_scores",
        ["project_study_id"],
        unique=False,
    )
    op.create_table(
        "reference_truths",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("project_study_id", sa.Integer(), nullable=False),
        sa.Column("laterality", sa.String(length=1), nullable=False),
        sa.Column("truth", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("follow_up_months", sa.Integer(), nullable=True),
        sa.Column("truth_date", sa.Date(), nullable=True),
        sa.Column("lesions", sa.JSON(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["imported_by"], ["users.id"], name=op.f("fk_reference_truths_imported_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["reading_projects.id"],
            name=op.f("fk_reference_truths_project_id_reading_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["project_study_id"],
            ["project_studies.id"],
            name=op.f("fk_reference_truths_project_study_id_project_studies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_truths")),
        sa.UniqueConstraint(
            "project_study_id", "laterality", name=op.f("uq_reference_truths_project_study_id")
        ),
    )
    op.create_index(
        op.f("ix_reference_truths_project_id"), "reference_truths", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_reference_truths_project_study_id"),
        "reference_truths",
        ["project_study_id"],
        unique=False,
    )
    op.create_table(
        "aid_shown",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("box_ids", sa.JSON(), nullable=False),
        sa.Column("breast_scores", sa.JSON(), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["ai_models.id"], name=op.f("fk_aid_shown_model_id_ai_models")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["read_tasks.id"], name=op.f("fk_aid_shown_task_id_read_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aid_shown")),
    )
    op.create_index(op.f("ix_aid_shown_task_id"), "aid_shown", ["task_id"], unique=False)
    op.add_column("project_studies", sa.Column("block", sa.Integer(), nullable=True))
    # a foreign key added to a table that exists: inline, so that SQLite need not rebuild the
    # table (which would drop read_submissions' append-only triggers)
    for table in ("read_submissions", "read_tasks"):
        name = op.f(f"fk_{table}_session_id_reading_sessions")
        if op.get_context().dialect.name == "sqlite":
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN session_id INTEGER "
                f"CONSTRAINT {name} REFERENCES reading_sessions (id)"
            )
        else:
            op.add_column(table, sa.Column("session_id", sa.Integer(), nullable=True))
            op.create_foreign_key(name, table, "reading_sessions", ["session_id"], ["id"])
        op.create_index(op.f(f"ix_{table}_session_id"), table, ["session_id"], unique=False)
    op.add_column("read_submissions", sa.Column("exclusion", sa.Text(), nullable=True))
    op.add_column("read_submissions", sa.Column("aid", sa.JSON(), nullable=True))
    op.add_column("read_tasks", sa.Column("position", sa.Integer(), nullable=True))
    with op.batch_alter_table("reading_projects") as batch_op:
        batch_op.add_column(sa.Column("design", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("layout", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("blocks", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("order_seed", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("truth_basis", sa.String(length=16), nullable=True))
    op.execute("UPDATE reading_projects SET design = 'double_read', truth_basis = 'reference'")
    with op.batch_alter_table("reading_projects") as batch_op:
        batch_op.alter_column("design", existing_type=sa.String(16), nullable=False)
        batch_op.alter_column("truth_basis", existing_type=sa.String(16), nullable=False)
    append_only.protect("aid_shown")


def downgrade() -> None:
    append_only.unprotect("aid_shown")
    with op.batch_alter_table("reading_projects") as batch_op:
        for column in ("truth_basis", "order_seed", "blocks", "layout", "design"):
            batch_op.drop_column(column)
    for table, columns in (
        ("read_tasks", ("position", "session_id")),
        ("read_submissions", ("aid", "exclusion", "session_id")),
    ):
        op.drop_index(op.f(f"ix_{table}_session_id"), table_name=table)
        if op.get_context().dialect.name != "sqlite":
            op.drop_constraint(
                op.f(f"fk_{table}_session_id_reading_sessions"), table, type_="foreignkey"
            )
        for column in columns:
            op.drop_column(table, column)
    op.drop_column("project_studies", "block")
    op.drop_index(op.f("ix_aid_shown_task_id"), table_name="aid_shown")
    op.drop_table("aid_shown")
    op.drop_index(op.f("ix_reference_truths_project_study_id"), table_name="reference_truths")
    op.drop_index(op.f("ix_reference_truths_project_id"), table_name="reference_truths")
    op.drop_table("reference_truths")
    op.drop_index(op.f("ix_ai_breast_scores_project_study_id"), table_name="ai_breast_scores")
    op.drop_index(op.f("ix_ai_breast_scores_model_id"), table_name="ai_breast_scores")
    op.drop_table("ai_breast_scores")
    op.drop_index(op.f("ix_ai_boxes_project_study_id"), table_name="ai_boxes")
    op.drop_index(op.f("ix_ai_boxes_model_id"), table_name="ai_boxes")
    op.drop_table("ai_boxes")
    op.drop_index(op.f("ix_reading_sessions_project_id"), table_name="reading_sessions")
    op.drop_table("reading_sessions")
    op.drop_index(op.f("ix_ai_models_project_id"), table_name="ai_models")
    op.drop_table("ai_models")
