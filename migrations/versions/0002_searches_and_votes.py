"""Searches and relevance votes: the record of what visitors asked and which results they judged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("version_name", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image_hash", sa.String(length=128), nullable=True),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("result_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_searches"),
    )
    op.create_index("ix_searches_created_at", "searches", ["created_at"])
    op.create_table(
        "relevance_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(), nullable=False),
        sa.Column("vote", sa.Integer(), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("vote IN (-1, 1)", name="ck_relevance_votes_up_or_down"),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name="fk_relevance_votes_search_id_searches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_relevance_votes"),
        sa.UniqueConstraint("search_id", "doc_id", name="uq_relevance_votes_search_id_doc_id"),
    )


def downgrade() -> None:
    op.drop_table("relevance_votes")
    op.drop_index("ix_searches_created_at", table_name="searches")
    op.drop_table("searches")
