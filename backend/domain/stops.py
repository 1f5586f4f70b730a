"""Stops as the plan sees them: their statuses, proof policies and time windows."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from backend.domain.refusal import Refusal


class StopStatus(enum.StrEnum):
    """Where a stop stands.

    ``pending`` is the plan's starting point; ``arrived``, ``delivered`` and ``failed``
    come from the door; ``evidence_pending`` is a delivery whose files have not all
    arrived and verified; ``cancelled`` is the plan withdrawing the stop.
    """

    PENDING = "pending"
    ARRIVED = "arrived"
    DELIVERED = "delivered"
    EVIDENCE_PENDING = "evidence_pending"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Statuses from which the plan may still be changed by a dispatcher without
# contradicting something the driver already reported.
PLAN_EDITABLE_STATUSES = frozenset({StopStatus.PENDING, StopStatus.ARRIVED})


class PlanError(Refusal):
    """A plan change that the stop's current state does not allow."""


@dataclass(frozen=True)
class ProofPolicy:
    """What a delivery at this stop must carry to count as proven."""

    signature: bool = False
    photo: bool = False
    min_photos: int = 0
    age_check: bool = False
    parcel_scan: bool = False

    def __post_init__(self) -> None:
        if self.min_photos < 0:
            raise ValueError("min_photos must not be negative")
        if self.photo and self.min_photos == 0:
            object.__setattr__(self, "min_photos", 1)

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies through reflection, and this
        # runs for every stop of every manifest served.
        return {
            "signature": self.signature,
            "photo": self.photo,
            "min_photos": self.min_photos,
            "age_check": self.age_check,
            "parcel_scan": self.parcel_scan,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ProofPolicy:
        raw = raw or {}
        return cls(
            signature=bool(raw.get("signature", False)),
            photo=bool(raw.get("photo", False)),
            min_photos=int(raw.get("min_photos", 0)),
            age_check=bool(raw.get("age_check", False)),
            parcel_scan=bool(raw.get("parcel_scan", False)),
        )


def check_cancellable(status: StopStatus) -> None:
    """Raise PlanError unless a stop in ``status`` may be cancelled by the plan."""
    if status == StopStatus.CANCELLED:
        raise PlanError("stop_already_cancelled", "the stop is already cancelled")
    if status in (StopStatus.DELIVERED, StopStatus.FAILED, StopStatus.EVIDENCE_PENDING):
        raise PlanError(
            "stop_already_attempted",
            f"the stop is {status.value}; a reported outcome is never overwritten by the plan",
        )


def check_plan_editable(status: StopStatus) -> None:
    """Raise PlanError unless the plan may still change a stop in ``status``."""
    if status not in PLAN_EDITABLE_STATUSES:
        raise PlanError(
            "stop_not_editable",
            f"the stop is {status.value}; only pending or arrived stops can be changed",
        )
