"""people: contact details and forced password changes for users

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Existing users have no contact details and keep the password they have; then the
    # columns are required like every other.
    fill = "UPDATE app_user SET phone = '', email = '', must_change_password = :no"
    op.execute(sa.text(fill).bindparams(no=False))
    with op.batch_alter_table("app_user") as batch:
        batch.alter_column("phone", existing_type=sa.String(length=40), nullable=False)
        batch.alter_column("email", existing_type=sa.String(length=254), nullable=False)
        batch.alter_column("must_change_password", existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("must_change_password")
        batch.drop_column("email")
        batch.drop_column("phone")
