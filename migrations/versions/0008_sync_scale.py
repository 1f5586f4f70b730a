"""sync at scale: no index that starts from a tenant's pending files

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00

The sync queries now reach evidence files from the batch's own events and the device's
own rows, by (org_id, sha256). An index on (org_id, verified_at) only ever served
starting from every pending file of the tenant, which planners choose on stale
statistics; without it they cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_file") as batch:
        batch.drop_index("ix_evidence_file_pending")


def downgrade() -> None:
    with op.batch_alter_table("evidence_file") as batch:
        batch.create_index("ix_evidence_file_pending", ["org_id", "verified_at"], unique=False)
