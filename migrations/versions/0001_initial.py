"""Initial schema: model versions, the active version, modalities, topics, top terms, documents.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("artifact_dir", sa.String(), nullable=True),
        sa.Column("collection", sa.String(), nullable=False),
        sa.Column("num_documents", sa.Integer(), nullable=False),
        sa.Column("num_topics", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('building', 'ready', 'failed')", name="ck_model_versions_status"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["model_versions.id"], name="fk_model_versions_parent_id_model_versions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("name", name="uq_model_versions_name"),
    )
    op.create_table(
        "active_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_active_version_singleton"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_active_version_version_id_model_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_active_version"),
    )
    op.create_table(
        "version_modalities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("vocabulary_size", sa.Integer(), nullable=False),
        sa.CheckConstraint("weight >= 0", name="ck_version_modalities_weight_not_negative"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_version_modalities_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_version_modalities"),
        sa.UniqueConstraint("version_id", "name", name="uq_version_modalities_version_id_name"),
    )
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("status IN ('normal', 'background', 'junk')", name="ck_topics_status"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_topics_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_topics"),
        sa.UniqueConstraint("version_id", "index", name="uq_topics_version_id_index"),
    )
    op.create_table(
        "topic_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("modality", sa.String(length=64), nullable=False),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("display", sa.String(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name="fk_topic_terms_topic_id_topics", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_topic_terms"),
    )
    op.create_index(
        "ix_topic_terms_topic_id_modality_rank", "topic_terms", ["topic_id", "modality", "rank"]
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("image", sa.String(), nullable=True),
        sa.Column("image_hash", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_documents_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.UniqueConstraint("version_id", "doc_id", name="uq_documents_version_id_doc_id"),
    )


def downgrade() -> None:
    op.drop_table("documents")
    op.drop_index("ix_topic_terms_topic_id_modality_rank", table_name="topic_terms")
    op.drop_table("topic_terms")
    op.drop_table("topics")
    op.drop_table("version_modalities")
    op.drop_table("active_version")
    op.drop_table("model_versions")
