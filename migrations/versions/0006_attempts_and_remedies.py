"""another attempt: re-planned stops withdrawn and held; dispute remedies that act;
the server's own witness of when events were recorded

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stop") as batch:
        batch.add_column(sa.Column("replanned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column(
                "replanned_as_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_stop_replanned_as_id_stop",
            "stop",
            ["replanned_as_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("dispute") as batch:
        batch.add_column(sa.Column("refund_amount", sa.Numeric(12, 2), nullable=True))
        batch.add_column(
            sa.Column("refund_currency", sa.String(3), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "redelivery_stop_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch.create_foreign_key(
            "fk_dispute_redelivery_stop_id_stop",
            "stop",
            ["redelivery_stop_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("drained_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("door_event") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("door_event") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("device") as batch:
        batch.drop_column("drained_at")
    with op.batch_alter_table("dispute") as batch:
        batch.drop_constraint("fk_dispute_redelivery_stop_id_stop", type_="foreignkey")
        batch.drop_column("redelivery_stop_id")
        batch.drop_column("refund_currency")
        batch.drop_column("refund_amount")
    with op.batch_alter_table("stop") as batch:
        batch.drop_constraint("fk_stop_replanned_as_id_stop", type_="foreignkey")
        batch.drop_column("held_at")
        batch.drop_column("replanned_as_id")
        batch.drop_column("replanned_at")
