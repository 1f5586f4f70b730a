"""The password policy: long enough, not common, not the username."""

from __future__ import annotations

import pytest

from backend.domain import password_policy
from backend.domain.refusal import Refusal


def test_the_shipped_list_holds_twenty_thousand_common_passwords() -> None:
    common = password_policy.common_passwords()
    assert len(common) > 19_000
    assert {"password", "123456", "qwertyuiop123"} <= common


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("short-one", "", "at least 12"),
        ("", "", "at least 12"),
        ("qwertyuiop123", "", "most common"),
        ("  QWERTYUIOP123 ", "", "most common"),
        ("ana.lopez-2026!", "ana.lopez", "username"),
        ("x" * 1025, "", "at most 1024"),
    ],
)
def test_a_weak_password_is_refused_with_its_reason(
    password: str, username: str, reason: str
) -> None:
    assert any(reason in problem for problem in password_policy.problems(password, username))
    with pytest.raises(Refusal) as refused:
        password_policy.check(password, username, field="new_password")
    assert refused.value.code == "weak_password"
    assert refused.value.field == "new_password"
    assert refused.value.errors is not None
    assert "new_password" in refused.value.errors


def test_a_long_uncommon_password_without_the_username_passes() -> None:
    assert password_policy.problems("lantern-orbit-cactus-9", "ana") == []
    password_policy.check("lantern-orbit-cactus-9", "ana")


def test_every_reason_is_given_at_once() -> None:
    reasons = password_policy.problems("ana", "ana")
    assert any("12" in r for r in reasons)
    assert any("username" in r for r in reasons)
