"""ProofPolicy's hand-written dict stays the dataclass's own fields, whatever is added."""

from __future__ import annotations

import dataclasses

import pytest

from backend.domain.stops import ProofPolicy


@pytest.mark.parametrize(
    "policy",
    [
        ProofPolicy(),
        ProofPolicy(signature=True, photo=True, min_photos=3, age_check=True, parcel_scan=True),
        ProofPolicy(photo=True),
    ],
)
def test_to_dict_is_every_field_and_round_trips(policy: ProofPolicy) -> None:
    assert policy.to_dict() == dataclasses.asdict(policy)
    assert ProofPolicy.from_dict(policy.to_dict()) == policy


def test_a_photo_policy_asks_for_at_least_one_photo() -> None:
    assert ProofPolicy(photo=True).to_dict()["min_photos"] == 1
