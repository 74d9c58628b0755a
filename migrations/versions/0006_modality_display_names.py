"""Modality display names: what people call each modality, in English and in Russian. The
modalities of versions made before names existed get the built-in modalities' names, or their
id without the '@'.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.storage.modality_names import default_display_name

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("display_en", "display_ru")


def upgrade() -> None:
    with op.batch_alter_table("version_modalities") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length=64), nullable=True))
    modalities = sa.table(
        "version_modalities",
        sa.column("name", sa.String),
        sa.column("display_en", sa.String),
        sa.column("display_ru", sa.String),
    )
    connection = op.get_bind()
    names = connection.scalars(sa.select(modalities.c.name).distinct()).all()
    for name in names:
        display = default_display_name(name)
        connection.execute(
            modalities.update()
            .where(modalities.c.name == name)
            .values(display_en=display.en, display_ru=display.ru)
        )
    with op.batch_alter_table("version_modalities") as batch:
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("version_modalities") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
