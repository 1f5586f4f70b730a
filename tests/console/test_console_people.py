"""The console's Admin area: people and the audit log, and the password page every
user has (and a user whose change is due sees before anything else)."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import User
from tests.conftest import World
from tests.console.pages import csrf_of, log_in

STRONG = "lantern-orbit-cactus-9"
PAGES = ["/console/admin/people", "/console/admin/audit", "/console/admin/audit.csv"]


def _post(client: FlaskClient, path: str, data: dict[str, object]) -> object:
    token = csrf_of(client, "/console/password")
    return client.post(path, data={"csrf_token": token, **data})


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("who", "status"), [("dispatcher", 403), ("support", 403), ("admin", 200)])
def test_the_admin_area_is_for_admins(
    client: FlaskClient, world: World, path: str, who: str, status: int
) -> None:
    log_in(client, who)
    assert client.get(path).status_code == status


def test_an_admin_adds_someone_who_must_change_the_password_before_anything_else(
    client: FlaskClient, world: World
) -> None:
    log_in(client, "admin")
    added = _post(client, "/console/admin/people", {"username": "nina", "role": "dispatcher"})
    assert added.status_code == 201  # type: ignore[attr-defined]
    html = added.get_data(as_text=True)  # type: ignore[attr-defined]
    one_time = re.search(r"<code>([a-z0-9-]{19})</code>", html)
    assert one_time is not None

    nina = client.application.test_client()
    landed = log_in(nina, "nina", one_time.group(1))
    assert landed.headers["Location"].startswith("/console/password")
    assert nina.get("/console/day").headers["Location"].startswith("/console/password")
    token = csrf_of(nina, "/console/password")
    weak = nina.post(
        "/console/password",
        data={
            "csrf_token": token,
            "current_password": one_time.group(1),
            "new_password": "qwertyuiop123",
            "repeat_password": "qwertyuiop123",
        },
    )
    assert weak.status_code == 422
    assert 'data-field="new_password"' in weak.get_data(as_text=True)
    done = nina.post(
        "/console/password",
        data={
            "csrf_token": token,
            "current_password": one_time.group(1),
            "new_password": STRONG,
            "repeat_password": STRONG,
        },
    )
    assert done.status_code == 302
    assert nina.get("/console/day").status_code == 200


def test_a_bad_csv_names_its_lines_and_adds_nobody(
    client: FlaskClient, world: World, session: Session
) -> None:
    log_in(client, "admin")
    csv = b"username,role\nfine_one,driver\nbad one,driver\nfine_two,pilot\n"
    refused = _post(
        client, "/console/admin/people/import", {"file": (io.BytesIO(csv), "people.csv")}
    )
    assert refused.status_code == 422  # type: ignore[attr-defined]
    html = refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'data-line="3"' in html
    assert 'data-line="4"' in html
    assert session.scalar(select(User.id).where(User.username == "fine_one")) is None
    fixed = b"username,role\nfine_one,driver\nfine_two,driver\n"
    added = _post(
        client, "/console/admin/people/import", {"file": (io.BytesIO(fixed), "people.csv")}
    )
    assert added.status_code == 201  # type: ignore[attr-defined]
    assert "fine_two" in added.get_data(as_text=True)  # type: ignore[attr-defined]


def test_deactivating_someone_ends_their_open_console_session(
    client: FlaskClient, world: World
) -> None:
    other = client.application.test_client()
    log_in(other, "dispatcher")
    assert other.get("/console/day").status_code == 200
    log_in(client, "admin")
    done = _post(client, f"/console/admin/people/{world.users['dispatcher']}/deactivate", {})
    assert done.status_code == 302  # type: ignore[attr-defined]
    assert other.get("/console/day").headers["Location"].startswith("/console/login")
    # Reactivating does not bring the old session back.
    _post(client, f"/console/admin/people/{world.users['dispatcher']}/reactivate", {})
    assert other.get("/console/day").status_code == 302


def test_the_last_admin_cannot_deactivate_themself_and_the_page_says_why(
    client: FlaskClient, world: World
) -> None:
    log_in(client, "admin")
    refused = _post(client, f"/console/admin/people/{world.users['admin']}/deactivate", {})
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert "last active admin" in refused.get_data(as_text=True)  # type: ignore[attr-defined]


def test_edits_and_resets_show_in_the_audit_log(client: FlaskClient, world: World) -> None:
    log_in(client, "admin")
    user_id = world.users["support"]
    edited = _post(
        client,
        f"/console/admin/people/{user_id}",
        {"full_name": "Sam Support", "phone": "+1 206 555 0100", "email": "", "role": "support"},
    )
    assert edited.status_code == 302  # type: ignore[attr-defined]
    reset = _post(client, f"/console/admin/people/{user_id}/reset-password", {})
    assert "one-time password" in reset.get_data(as_text=True)  # type: ignore[attr-defined]
    log = client.get("/console/admin/audit").get_data(as_text=True)
    assert log.index("user.reset_password") < log.index("user.update")
    assert "Sam Support" in log
    assert "password_hash" not in log


def test_another_organizations_admin_cannot_see_or_change_our_people(
    client: FlaskClient, world: World, session: Session
) -> None:
    from backend.db.models import Organization
    from tests.factories import make_user

    other = session.get(Organization, world.other_org_id)
    assert other is not None
    make_user(session, other, "other_admin", "admin")
    session.commit()
    log_in(client, "other_admin")
    target = world.users["driver_a"]
    assert client.get(f"/console/admin/people/{target}").status_code == 404
    for action in ("deactivate", "reset-password"):
        assert _post(client, f"/console/admin/people/{target}/{action}", {}).status_code == 404  # type: ignore[attr-defined]
    listed = client.get("/console/admin/people").get_data(as_text=True)
    assert "driver_a" not in listed
    assert "other_driver" in listed
