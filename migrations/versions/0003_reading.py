"""Reading projects: pools, studies, tasks, the append-only read log, final label history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core import append_only
from app.core.database import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reading_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("vocabulary", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("idle_limit_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_reading_projects_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_reading_projects_name")),
    )
    op.create_table(
        "project_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["reading_projects.id"],
            name=op.f("fk_project_members_project_id_reading_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_project_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_members")),
        sa.UniqueConstraint(
            "project_id", "user_id", "pool", name=op.f("uq_project_members_project_id")
        ),
    )
    for column in ("project_id", "user_id"):
        op.create_index(op.f(f"ix_project_members_{column}"), "project_members", [column])
    op.create_table(
        "project_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("study_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("discordances", sa.JSON(), nullable=True),
        sa.Column("final_label", sa.JSON(), nullable=True),
        sa.Column("final_source", sa.String(length=16), nullable=True),
        sa.Column("finalized_at", UTCDateTime(), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["reading_projects.id"],
            name=op.f("fk_project_studies_project_id_reading_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["study_pk"], ["studies.id"], name=op.f("fk_project_studies_study_pk_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_studies")),
        sa.UniqueConstraint("project_id", "study_pk", name=op.f("uq_project_studies_project_id")),
    )
    for column in ("project_id", "status", "study_pk"):
        op.create_index(op.f(f"ix_project_studies_{column}"), "project_studies", [column])
    op.create_table(
        "final_label_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_study_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("finalized_at", UTCDateTime(), nullable=False),
        sa.Column("reopened_at", UTCDateTime(), nullable=False),
        sa.Column("reopened_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_study_id"],
            ["project_studies.id"],
            name=op.f("fk_final_label_history_project_study_id_project_studies"),
        ),
        sa.ForeignKeyConstraint(
            ["reopened_by"], ["users.id"], name=op.f("fk_final_label_history_reopened_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_final_label_history")),
    )
    for column in ("project_study_id",):
        op.create_index(op.f(f"ix_final_label_history_{column}"), "final_label_history", [column])
    op.create_table(
        "read_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("last_activity_at", UTCDateTime(), nullable=True),
        sa.Column("active_seconds", sa.Float(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_study_id"],
            ["project_studies.id"],
            name=op.f("fk_read_tasks_project_study_id_project_studies"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_read_tasks_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_tasks")),
    )
    for column in ("project_study_id", "status", "user_id"):
        op.create_index(op.f(f"ix_read_tasks_{column}"), "read_tasks", [column])
    op.create_table(
        "read_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("project_study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("active_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_study_id"],
            ["project_studies.id"],
            name=op.f("fk_read_submissions_project_study_id_project_studies"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["read_tasks.id"], name=op.f("fk_read_submissions_task_id_read_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_read_submissions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_submissions")),
        sa.UniqueConstraint("task_id", name=op.f("uq_read_submissions_task_id")),
    )
    for column in ("project_study_id", "user_id"):
        op.create_index(op.f(f"ix_read_submissions_{column}"), "read_submissions", [column])
    for table in ("read_submissions", "final_label_history"):
        append_only.protect(table)


def downgrade() -> None:
    for table in ("read_submissions", "final_label_history"):
        append_only.unprotect(table)
    for table in (
        "final_label_history",
        "read_submissions",
        "read_tasks",
        "project_studies",
        "project_members",
        "reading_projects",
    ):
        op.drop_table(table)
