"""A live collection: documents added after a build (with their theta per version), documents
taken down, and an index on the documents' photo hashes for finding a photo already there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "added_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("image", sa.String(), nullable=True),
        sa.Column("image_hash", sa.String(length=128), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_added_documents"),
        sa.UniqueConstraint("doc_id", name="uq_added_documents_doc_id"),
        sa.UniqueConstraint("image_hash", name="uq_added_documents_image_hash"),
    )
    op.create_table(
        "addition_thetas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.JSON(), nullable=False),
        sa.Column("theta", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["added_documents.id"],
            name="fk_addition_thetas_document_id_added_documents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_addition_thetas_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_addition_thetas"),
        sa.UniqueConstraint(
            "document_id", "version_id", name="uq_addition_thetas_document_id_version_id"
        ),
    )
    op.create_table(
        "taken_down",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(), nullable=False),
        sa.Column("image_hash", sa.String(length=128), nullable=True),
        sa.Column("taken_down_by", sa.String(length=64), nullable=False),
        sa.Column("taken_down_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_taken_down"),
        sa.UniqueConstraint("doc_id", name="uq_taken_down_doc_id"),
    )
    op.create_index("ix_taken_down_image_hash", "taken_down", ["image_hash"])
    op.create_index("ix_documents_image_hash", "documents", ["image_hash"])


def downgrade() -> None:
    op.drop_index("ix_documents_image_hash", table_name="documents")
    op.drop_index("ix_taken_down_image_hash", table_name="taken_down")
    op.drop_table("taken_down")
    op.drop_table("addition_thetas")
    op.drop_table("added_documents")
