"""organization settings and their versions, depot retirement, device state, TOTP

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Chained after main's 0008 (sync_scale); rechain after the people migration at merge.

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(
            sa.Column("settings_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "org_settings_version",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("changed_by", BIG_ID, nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["app_user.id"],
            name=op.f("fk_org_settings_version_changed_by_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_org_settings_version_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_settings_version")),
        sa.UniqueConstraint(
            "org_id", "version", name=op.f("uq_org_settings_version_org_id_version")
        ),
    )
    op.create_table(
        "totp_credential",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("confirmed_at", WHEN, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_totp_credential_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_totp_credential_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totp_credential")),
        sa.UniqueConstraint("user_id", name=op.f("uq_totp_credential_user_id")),
    )
    with op.batch_alter_table("depot") as batch:
        batch.add_column(sa.Column("retired_at", WHEN, nullable=True))
    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("app_version", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("last_sync_at", WHEN, nullable=True))
        batch.add_column(sa.Column("pending_events", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("revoked_at", WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("pending_events")
        batch.drop_column("last_sync_at")
        batch.drop_column("app_version")
    with op.batch_alter_table("depot") as batch:
        batch.drop_column("retired_at")
    op.drop_table("totp_credential")
    op.drop_table("org_settings_version")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("settings_version")
        batch.drop_column("settings")
