"""sync events evidence conflicts proofs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 14:34:28.148431
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_file",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_evidence_file_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_file")),
        sa.UniqueConstraint("org_id", "sha256", name=op.f("uq_evidence_file_org_id_sha256")),
    )
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_file_org_id"), ["org_id"], unique=False)

    op.create_table(
        "conflict",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "resolved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("resolution_note", sa.Text(), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_conflict_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["app_user.id"],
            name=op.f("fk_conflict_resolved_by_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stop.id"], name=op.f("fk_conflict_stop_id_stop"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict")),
        sa.UniqueConstraint(
            "org_id",
            "stop_id",
            "kind",
            "event_key",
            name=op.f("uq_conflict_org_id_stop_id_kind_event_key"),
        ),
    )
    with op.batch_alter_table("conflict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conflict_org_id"), ["org_id"], unique=False)

    op.create_table(
        "door_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("stop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "driver_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("device_key", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hlc", sa.String(length=100), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("clock_skew_ms", sa.BigInteger(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("result_code", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["app_user.id"],
            name=op.f("fk_door_event_driver_id_app_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_door_event_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stop.id"], name=op.f("fk_door_event_stop_id_stop"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_door_event")),
        sa.UniqueConstraint("org_id", "event_id", name=op.f("uq_door_event_org_id_event_id")),
    )
    with op.batch_alter_table("door_event", schema=None) as batch_op:
        batch_op.create_index("ix_door_event_device", ["org_id", "device_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_door_event_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_door_event_stop", ["stop_id", "hlc"], unique=False)

    op.create_table(
        "plan_change",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "driver_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("stop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stop_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["app_user.id"],
            name=op.f("fk_plan_change_driver_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_plan_change_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stop.id"], name=op.f("fk_plan_change_stop_id_stop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_plan_change")),
    )
    with op.batch_alter_table("plan_change", schema=None) as batch_op:
        batch_op.create_index("ix_plan_change_feed", ["org_id", "driver_id", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_change_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "ix_plan_change_seen", ["driver_id", "stop_id", "stop_version"], unique=False
        )

    op.create_table(
        "proof",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("stop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("file_hashes", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.Column("geo_check", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_proof_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"], ["stop.id"], name=op.f("fk_proof_stop_id_stop"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proof")),
        sa.UniqueConstraint("org_id", "event_id", name=op.f("uq_proof_org_id_event_id")),
    )
    with op.batch_alter_table("proof", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proof_org_id"), ["org_id"], unique=False)

    op.create_table(
        "event_evidence",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "event_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_row_id"],
            ["door_event.id"],
            name=op.f("fk_event_evidence_event_row_id_door_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
            name=op.f("fk_event_evidence_org_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_evidence")),
        sa.UniqueConstraint(
            "event_row_id", "sha256", name=op.f("uq_event_evidence_event_row_id_sha256")
        ),
    )
    with op.batch_alter_table("event_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_evidence_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_event_evidence_sha256", ["org_id", "sha256"], unique=False)

    with op.batch_alter_table("stop", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("material_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stop", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("material_version")

    with op.batch_alter_table("event_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_event_evidence_sha256")
        batch_op.drop_index(batch_op.f("ix_event_evidence_org_id"))

    op.drop_table("event_evidence")
    with op.batch_alter_table("proof", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_org_id"))

    op.drop_table("proof")
    with op.batch_alter_table("plan_change", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_change_seen")
        batch_op.drop_index(batch_op.f("ix_plan_change_org_id"))
        batch_op.drop_index("ix_plan_change_feed")

    op.drop_table("plan_change")
    with op.batch_alter_table("door_event", schema=None) as batch_op:
        batch_op.drop_index("ix_door_event_stop")
        batch_op.drop_index(batch_op.f("ix_door_event_org_id"))
        batch_op.drop_index("ix_door_event_device")

    op.drop_table("door_event")
    with op.batch_alter_table("conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conflict_org_id"))

    op.drop_table("conflict")
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_file_org_id"))

    op.drop_table("evidence_file")
