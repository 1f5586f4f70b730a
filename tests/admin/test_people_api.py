"""Admins run their organization's people through /api/v1/admin/users: every action
takes effect at once, is audited with before and after, and bad input is refused with a
field-level error and nothing half-done."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import AuditEntry, User
from tests.conftest import World

Auth = Callable[[str], dict[str, str]]
STRONG = "lantern-orbit-cactus-9"


def _login(client: FlaskClient, username: str, password: str = "pw") -> dict[str, object]:
    response = client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password, "device_id": f"dev-{username}"},
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def _bearer(pair: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _audit_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_an_admin_adds_a_user_who_must_change_the_one_time_password(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    response = client.post(
        "/api/v1/admin/users",
        json={"username": "nina", "role": "driver", "full_name": "Nina K", "phone": "+1 206 555"},
        headers=auth("admin"),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["user"]["role"] == "driver"
    assert body["user"]["must_change_password"] is True
    one_time = body["one_time_password"]

    pair = _login(client, "nina", one_time)
    assert pair["must_change_password"] is True
    blocked = client.get("/api/v1/manifests/mine?date=2026-11-24", headers=_bearer(pair))
    assert blocked.status_code == 403
    assert blocked.get_json()["code"] == "password_change_required"

    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": one_time, "new_password": STRONG},
        headers=_bearer(pair),
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["must_change_password"] is False
    # The same token now opens the rest of the API.
    mine = client.get("/api/v1/manifests/mine?date=2026-11-24", headers=_bearer(pair))
    assert mine.status_code != 403
    assert _login(client, "nina", STRONG)["must_change_password"] is False


def test_changing_ones_password_needs_the_current_one_and_a_strong_new_one(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "nope", "new_password": STRONG},
        headers=auth("driver_a"),
    )
    assert (wrong.status_code, wrong.get_json()["code"]) == (403, "wrong_password")
    assert "current_password" in wrong.get_json()["errors"]
    for weak in ("short", "qwertyuiop123", "driver_a-forever-2026"):
        refused = client.post(
            "/api/v1/auth/password",
            json={"current_password": "pw", "new_password": weak},
            headers=auth("driver_a"),
        )
        assert refused.status_code == 422, weak
        assert refused.get_json()["code"] == "weak_password"
        assert "new_password" in refused.get_json()["errors"]
    _login(client, "driver_a", "pw")  # unchanged


def test_bad_new_users_are_refused_by_field_and_nothing_is_written(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    before = _audit_count(session)
    cases = [
        ({"username": "other_driver", "role": "driver"}, 409, "username_taken", "username"),
        ({"username": "OTHER_DRIVER", "role": "driver"}, 409, "username_taken", "username"),
        ({"username": "zed", "role": "pilot"}, 422, "validation_error", "role"),
        ({"username": "z d", "role": "driver"}, 422, "validation_error", "username"),
        (
            {"username": "zed", "role": "driver", "password": "tooshort"},
            422,
            "weak_password",
            "password",
        ),
        (
            {"username": "zed", "role": "driver", "email": "not-mail"},
            422,
            "validation_error",
            "email",
        ),
    ]
    for body, status, code, field in cases:
        response = client.post("/api/v1/admin/users", json=body, headers=auth("admin"))
        assert response.status_code == status, (body, response.get_json())
        assert response.get_json()["code"] == code
        assert field in response.get_json()["errors"], response.get_json()
    session.expire_all()
    assert session.scalar(select(User.id).where(User.username == "zed")) is None
    assert _audit_count(session) == before


def test_a_csv_import_adds_everyone_or_names_every_bad_line(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    bad = (
        "username,role,full_name,phone,email\n"
        "d1,driver,Dee One,,\n"
        "d2,pilot,Dee Two,,\n"
        "driver_b,driver,Taken,,\n"
        "d1,driver,Twice,,\n"
        "d5,driver,Dee Five,,nope\n"
    )
    headers = {**auth("admin"), "Content-Type": "text/csv"}
    refused = client.post("/api/v1/admin/users/import", data=bad, headers=headers)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["code"] == "import_invalid"
    assert sorted(body["errors"]["rows"]) == ["3", "4", "5", "6"]
    assert "role" in body["errors"]["rows"]["3"]
    assert "username" in body["errors"]["rows"]["4"]
    assert "email" in body["errors"]["rows"]["6"]
    session.expire_all()
    assert session.scalar(select(User.id).where(User.username == "d1")) is None

    good = "username,role,full_name\nd1,driver,Dee One\nd2,dispatcher,Dee Two\n"
    created = client.post("/api/v1/admin/users/import", data=good, headers=headers)
    assert created.status_code == 201, created.get_json()
    items = created.get_json()["items"]
    assert [i["user"]["username"] for i in items] == ["d1", "d2"]
    assert all(i["one_time_password"] and i["user"]["must_change_password"] for i in items)
    unknown = client.post(
        "/api/v1/admin/users/import", data="username,role,shoe_size\n", headers=headers
    )
    assert unknown.status_code == 422
    assert "file" in unknown.get_json()["errors"]


def test_editing_a_user_is_audited_with_before_and_after(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    user_id = world.users["driver_a"]
    response = client.patch(
        f"/api/v1/admin/users/{user_id}",
        json={"full_name": "Ann Driver", "email": "ann@example.org", "role": "dispatcher"},
        headers=auth("admin"),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == "dispatcher"
    log = client.get("/api/v1/admin/audit", headers=auth("admin")).get_json()["items"]
    entry = log[0]
    assert (entry["action"], entry["actor"], entry["target_id"]) == (
        "user.update",
        "admin",
        str(user_id),
    )
    assert entry["before"]["role"] == "driver"
    assert entry["after"]["role"] == "dispatcher"
    assert entry["after"]["email"] == "ann@example.org"
    assert not any("hash" in key for e in log for key in (e["after"] or {}))


def test_a_deactivated_users_token_and_refresh_stop_at_once_and_come_back_only_by_login(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    pair = _login(client, "driver_b")
    user_id = world.users["driver_b"]
    off = client.post(f"/api/v1/admin/users/{user_id}/deactivate", headers=auth("admin"))
    assert off.status_code == 200
    assert off.get_json()["is_active"] is False
    again = client.get("/api/v1/manifests/mine?date=2026-11-24", headers=_bearer(pair))
    assert (again.status_code, again.get_json()["code"]) == (401, "account_inactive")
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401

    on = client.post(f"/api/v1/admin/users/{user_id}/reactivate", headers=auth("admin"))
    assert on.get_json()["is_active"] is True
    # The old login stays revoked; a fresh one works.
    old = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert old.status_code == 401
    _login(client, "driver_b")


def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted(
    client: FlaskClient, world: World, session: Session, auth: Auth
) -> None:
    admin_id = world.users["admin"]
    before = _audit_count(session)
    off = client.post(f"/api/v1/admin/users/{admin_id}/deactivate", headers=auth("admin"))
    assert (off.status_code, off.get_json()["code"]) == (409, "last_admin")
    assert "is_active" in off.get_json()["errors"]
    demote = client.patch(
        f"/api/v1/admin/users/{admin_id}", json={"role": "driver"}, headers=auth("admin")
    )
    assert (demote.status_code, demote.get_json()["code"]) == (409, "last_admin")
    assert "role" in demote.get_json()["errors"]
    assert _audit_count(session) == before
    # With a second admin, the first may step down.
    client.patch(
        f"/api/v1/admin/users/{world.users['dispatcher']}",
        json={"role": "admin"},
        headers=auth("admin"),
    )
    # Nor may an admin lock themself out while another admin remains.
    own = client.post(f"/api/v1/admin/users/{admin_id}/deactivate", headers=auth("admin"))
    assert (own.status_code, own.get_json()["code"]) == (409, "own_account")
    reset = client.post(
        f"/api/v1/admin/users/{admin_id}/reset-password", json={}, headers=auth("admin")
    )
    assert (reset.status_code, reset.get_json()["code"]) == (409, "own_account")
    stepped = client.patch(
        f"/api/v1/admin/users/{admin_id}", json={"role": "dispatcher"}, headers=auth("admin")
    )
    assert stepped.status_code == 200


def test_a_reset_ends_the_old_login_and_forces_a_change(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    pair = _login(client, "support")
    user_id = world.users["support"]
    reset = client.post(
        f"/api/v1/admin/users/{user_id}/reset-password", json={}, headers=auth("admin")
    )
    assert reset.status_code == 200
    one_time = reset.get_json()["one_time_password"]
    assert reset.get_json()["user"]["must_change_password"] is True
    gone = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert gone.status_code == 401
    fresh = _login(client, "support", one_time)
    assert fresh["must_change_password"] is True
    weak = client.post(
        f"/api/v1/admin/users/{user_id}/reset-password",
        json={"password": "support-desk-2026"},
        headers=auth("admin"),
    )
    assert (weak.status_code, weak.get_json()["code"]) == (422, "weak_password")


def test_the_audit_log_exports_as_csv_newest_first(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    for name in ("first_one", "second_one"):
        client.post(
            "/api/v1/admin/users", json={"username": name, "role": "driver"}, headers=auth("admin")
        )
    response = client.get("/api/v1/admin/audit.csv", headers=auth("admin"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0].startswith("id,at,actor,")
    assert "second_one" in lines[1]
    assert "first_one" in lines[2]
    assert "password_hash" not in response.get_data(as_text=True)


def test_an_unreadable_csv_is_refused_as_a_file_not_a_crash(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    headers = {**auth("admin"), "Content-Type": "text/csv"}
    for body in ("username,role\nna\x00me,driver\n", "", "username,role\n", 'username,role\n"a,b'):
        response = client.post("/api/v1/admin/users/import", data=body, headers=headers)
        assert response.status_code == 422, (body, response.get_json())
        assert response.get_json()["code"] in ("import_invalid", "validation_error")


def test_a_demoted_admin_loses_admin_rights_with_the_token_they_hold(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    dispatcher_id = world.users["dispatcher"]
    client.patch(
        f"/api/v1/admin/users/{dispatcher_id}", json={"role": "admin"}, headers=auth("admin")
    )
    promoted = _login(client, "dispatcher")
    assert client.get("/api/v1/admin/users", headers=_bearer(promoted)).status_code == 200
    client.patch(
        f"/api/v1/admin/users/{dispatcher_id}", json={"role": "driver"}, headers=auth("admin")
    )
    assert client.get("/api/v1/admin/users", headers=_bearer(promoted)).status_code == 403


def test_a_reset_or_an_edit_may_come_without_a_body(
    client: FlaskClient, world: World, auth: Auth
) -> None:
    user_id = world.users["driver_a"]
    reset = client.post(f"/api/v1/admin/users/{user_id}/reset-password", headers=auth("admin"))
    assert reset.status_code == 200, reset.get_json()
    assert reset.get_json()["one_time_password"]
    unchanged = client.patch(f"/api/v1/admin/users/{user_id}", headers=auth("admin"))
    assert unchanged.status_code == 200, unchanged.get_json()
