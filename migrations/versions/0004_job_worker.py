"""Job worker: jobs are queued with JSON parameters and claimed by worker processes, which send
heartbeats.

A job row now holds its request (``params``), can wait as ``queued`` before a worker claims it
(``worker`` and ``claimed_at`` are empty until then) and can keep a ``result``. The ``workers``
table has one row per live worker process with its latest heartbeat.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('running', 'done', 'failed', 'cancelled')"
NEW_STATUSES = "status IN ('queued', 'running', 'done', 'failed', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("params", sa.JSON(), nullable=True))
        jobs.add_column(sa.Column("result", sa.JSON(), nullable=True))
        jobs.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        jobs.alter_column("worker", existing_type=sa.String(length=255), nullable=True)
        jobs.drop_constraint("ck_jobs_status", type_="check")
        jobs.create_check_constraint("ck_jobs_status", NEW_STATUSES)
    op.execute(sa.text("UPDATE jobs SET params = '{}' WHERE params IS NULL"))
    with op.batch_alter_table("jobs") as jobs:
        jobs.alter_column("params", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_every_s", sa.Float(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
        sa.UniqueConstraint("name", name="uq_workers_name"),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.execute(sa.text("DELETE FROM jobs WHERE status = 'queued' OR worker IS NULL"))
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint("ck_jobs_status", type_="check")
        jobs.create_check_constraint("ck_jobs_status", OLD_STATUSES)
        jobs.alter_column("worker", existing_type=sa.String(length=255), nullable=False)
        jobs.drop_column("claimed_at")
        jobs.drop_column("result")
        jobs.drop_column("params")
