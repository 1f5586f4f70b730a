"""the recipient's requests from the tracking page; disputes a recipient opened

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recipient_request",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("stop_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("handled_by", BIG_ID, nullable=True),
        sa.Column("handled_at", WHEN, nullable=True),
        sa.Column("dispute_id", BIG_ID, nullable=True),
        sa.Column("org_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["dispute.id"],
            name=op.f("fk_recipient_request_dispute_id_dispute"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handled_by"],
            ["app_user.id"],
            name=op.f("fk_recipient_request_handled_by_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_recipient_request_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["stop.id"],
            name=op.f("fk_recipient_request_stop_id_stop"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_request")),
    )
    with op.batch_alter_table("recipient_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recipient_request_status", ["org_id", "status", "id"], unique=False
        )
        batch_op.create_index("ix_recipient_request_stop", ["org_id", "stop_id"], unique=False)

    with op.batch_alter_table("dispute", schema=None) as batch_op:
        batch_op.alter_column("opened_by", existing_type=BIG_ID, nullable=True)
        batch_op.add_column(
            sa.Column("opened_via", sa.String(length=16), server_default="staff", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("dispute", schema=None) as batch_op:
        batch_op.drop_column("opened_via")
        batch_op.alter_column("opened_by", existing_type=BIG_ID, nullable=False)
    with op.batch_alter_table("recipient_request", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_request_stop")
        batch_op.drop_index("ix_recipient_request_status")
    op.drop_table("recipient_request")
