"""the recipient: promised windows and their history, ETAs and their snapshots, tracking links

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "eta_snapshot",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("stop_id", BIG_ID, nullable=False),
        sa.Column("eta_at", WHEN, nullable=False),
        sa.Column("computed_at", WHEN, nullable=False),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_eta_snapshot_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stop.id"], name=op.f("fk_eta_snapshot_stop_id_stop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eta_snapshot")),
    )
    with op.batch_alter_table("eta_snapshot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eta_snapshot_stop", ["org_id", "stop_id", "computed_at"], unique=False
        )

    op.create_table(
        "promise_change",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("stop_id", BIG_ID, nullable=False),
        sa.Column("promised_start", WHEN, nullable=True),
        sa.Column("promised_end", WHEN, nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("changed_by", BIG_ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["app_user.id"],
            name=op.f("fk_promise_change_changed_by_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_promise_change_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["stop.id"],
            name=op.f("fk_promise_change_stop_id_stop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promise_change")),
    )
    with op.batch_alter_table("promise_change", schema=None) as batch_op:
        batch_op.create_index("ix_promise_change_stop", ["org_id", "stop_id", "id"], unique=False)

    op.create_table(
        "stop_eta",
        sa.Column("stop_id", BIG_ID, nullable=False),
        sa.Column("eta_at", WHEN, nullable=False),
        sa.Column("stops_before", sa.Integer(), nullable=False),
        sa.Column("computed_at", WHEN, nullable=False),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_stop_eta_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stop.id"], name=op.f("fk_stop_eta_stop_id_stop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("stop_id", name=op.f("pk_stop_eta")),
    )
    op.create_table(
        "tracking_token",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("stop_id", BIG_ID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_tracking_token_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["stop.id"],
            name=op.f("fk_tracking_token_stop_id_stop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tracking_token_token_hash")),
    )
    with op.batch_alter_table("tracking_token", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_token_stop", ["org_id", "stop_id"], unique=False)

    op.create_table(
        "driver_position",
        sa.Column("driver_id", BIG_ID, nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["app_user.id"],
            name=op.f("fk_driver_position_driver_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_driver_position_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("driver_id", name=op.f("pk_driver_position")),
    )
    op.create_table(
        "driver_fix",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("driver_id", BIG_ID, nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("recorded_at", WHEN, nullable=False),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["app_user.id"],
            name=op.f("fk_driver_fix_driver_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_driver_fix_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_driver_fix")),
    )
    with op.batch_alter_table("driver_fix", schema=None) as batch_op:
        batch_op.create_index(
            "ix_driver_fix_driver_day",
            ["org_id", "driver_id", "service_date", "recorded_at"],
            unique=False,
        )

    with op.batch_alter_table("stop", schema=None) as batch_op:
        batch_op.add_column(sa.Column("promised_start", WHEN, nullable=True))
        batch_op.add_column(sa.Column("promised_end", WHEN, nullable=True))
        batch_op.add_column(
            sa.Column("recipient_email", sa.String(length=254), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("driver_fix", schema=None) as batch_op:
        batch_op.drop_index("ix_driver_fix_driver_day")
    op.drop_table("driver_fix")
    op.drop_table("driver_position")
    with op.batch_alter_table("stop", schema=None) as batch_op:
        batch_op.drop_column("recipient_email")
        batch_op.drop_column("promised_end")
        batch_op.drop_column("promised_start")

    with op.batch_alter_table("tracking_token", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_token_stop")

    op.drop_table("tracking_token")
    op.drop_table("stop_eta")
    with op.batch_alter_table("promise_change", schema=None) as batch_op:
        batch_op.drop_index("ix_promise_change_stop")

    op.drop_table("promise_change")
    with op.batch_alter_table("eta_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_eta_snapshot_stop")

    op.drop_table("eta_snapshot")
