"""user grants: permissions held on top of the role

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("grants", sa.JSON(), nullable=True))
    # Existing users hold no grants; then the column is required like every other.
    op.execute(sa.text("UPDATE app_user SET grants = '[]'"))
    with op.batch_alter_table("app_user") as batch:
        batch.alter_column("grants", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("grants")
