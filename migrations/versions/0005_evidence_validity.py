"""evidence validity: why a verified file is not the image it claims to be

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Files verified before this revision were never decoded: they stay null (valid),
    # and the PDF renderer applies the same pixel cap before it decodes anything.
    with op.batch_alter_table("evidence_file") as batch:
        batch.add_column(sa.Column("invalid_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_file") as batch:
        batch.drop_column("invalid_reason")
