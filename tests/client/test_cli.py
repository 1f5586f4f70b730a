"""`python -m driver_client`: a driver's day from a terminal."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import driver_client.__main__ as cli
from backend.domain.events import FailureReason
from driver_client.__main__ import main
from driver_client.capture import FixedLocation
from driver_client.device import Device
from tests.client.conftest import LiveServer
from tests.sync.helpers import png


@pytest.fixture(autouse=True)
def _phone_on_the_servers_clock(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line reads the machine's clock, as a phone does; here the test
    server runs on a set clock, so the phone's readings follow it."""
    now = server.clock.now
    monkeypatch.setattr(cli, "Device", functools.partial(Device, now=now))
    monkeypatch.setattr(cli, "FixedLocation", functools.partial(FixedLocation, now=now))


def test_login_sync_list_deliver_and_status(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "--data",
        str(tmp_path / "cli"),
        "--server",
        server.url,
        "--lat",
        "47.61",
        "--lon",
        "-122.33",
    ]
    signature = tmp_path / "sig.png"
    signature.write_bytes(png("ink"))
    assert main([*base, "login", "driver_a", "--password", "pw"]) == 0
    assert main([*base, "sync"]) == 0
    assert main([*base, "stops"]) == 0
    listing = capsys.readouterr().out
    assert f"#{stop_ids[0]}" in listing
    assert (
        main(
            [
                *base,
                "deliver",
                str(stop_ids[0]),
                "--recipient",
                "Dana",
                "--signature",
                str(signature),
            ]
        )
        == 0
    )
    assert main([*base, "status"]) == 0
    assert "waiting to sync:   1 event(s), 1 file(s)" in capsys.readouterr().out
    assert main([*base, "sync"]) == 0
    assert "acknowledged 1" in capsys.readouterr().out
    assert main([*base, "status"]) == 0
    assert "waiting to sync:   0 event(s), 0 file(s)" in capsys.readouterr().out


def test_a_delivery_missing_its_signature_is_not_saved(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data", str(tmp_path / "cli"), "--server", server.url]
    main([*base, "login", "driver_a", "--password", "pw"])
    main([*base, "sync"])
    assert main([*base, "deliver", str(stop_ids[0]), "--recipient", "Dana"]) == 1
    assert "not saved: a signature is required" in capsys.readouterr().err


def test_an_unreachable_server_is_said_plainly(
    tmp_path: Path, server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.stop()
    base = ["--data", str(tmp_path / "cli"), "--server", server.url]
    assert main([*base, "login", "driver_a", "--password", "pw"]) == 2
    assert "cannot be reached" in capsys.readouterr().err
    server.start()


def test_a_photo_is_sent_upright_small_and_without_location(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], session
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from backend.db.models import DoorEventRow
    from tests.client.test_media import _camera_jpeg

    base = ["--data", str(tmp_path / "cli"), "--server", server.url]
    signature = tmp_path / "sig.png"
    signature.write_bytes(png("ink"))
    photo = tmp_path / "door.jpg"
    photo.write_bytes(_camera_jpeg())
    main([*base, "login", "driver_a", "--password", "pw"])
    main([*base, "sync"])
    assert (
        main(
            [
                *base,
                "deliver",
                str(stop_ids[0]),
                "--recipient",
                "Dana",
                "--signature",
                str(signature),
                "--photo",
                str(photo),
            ]
        )
        == 0
    )
    assert main([*base, "sync"]) == 0
    session.rollback()
    [event] = session.scalars(select(DoorEventRow)).all()
    [sent] = [e for e in event.evidence if e["kind"] == "photo"]
    assert sent["content_type"] == "image/jpeg"
    assert sent["size"] < len(photo.read_bytes())


def test_a_driver_given_a_one_time_password_chooses_their_own_then_syncs(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from backend.admin import people

    session.rollback()  # end the fixture's read: the reset is a write of its own
    with server.app.app_context():
        reset = people.reset_password(session, people.OPERATOR, "driver_a")
    one_time = reset.one_time_password
    assert one_time is not None
    base = ["--data", str(tmp_path / "cli"), "--server", server.url]
    assert main([*base, "login", "driver_a", "--password", one_time]) == 0
    assert "choose your own password" in capsys.readouterr().out
    assert main([*base, "sync"]) == 1
    assert "password_change_required" in capsys.readouterr().err
    weak = main([*base, "password", "--current", one_time, "--new", "short"])
    assert (weak, "weak_password" in capsys.readouterr().err) == (1, True)
    changed = main([*base, "password", "--current", one_time, "--new", "lantern-orbit-cactus-9"])
    assert changed == 0
    assert main([*base, "sync"]) == 0
    assert "plan changes 3" in capsys.readouterr().out


def test_a_password_reset_mid_shift_says_to_log_in_again_and_keeps_the_capture(
    tmp_path: Path,
    server: LiveServer,
    stop_ids: list[int],
    session: Session,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from backend.admin import people

    base = ["--data", str(tmp_path / "cli"), "--server", server.url]
    assert main([*base, "login", "driver_a", "--password", "pw"]) == 0
    assert main([*base, "sync"]) == 0
    assert main([*base, "fail", str(stop_ids[0]), "--reason", "recipient_absent"]) == 0
    session.rollback()
    with server.app.app_context():
        people.reset_password(session, people.OPERATOR, "driver_a", "lantern-orbit-cactus-9")
    capsys.readouterr()
    assert main([*base, "sync"]) == 1
    err = capsys.readouterr().err
    assert "token_revoked" in err
    assert "log in again" in err
    assert main([*base, "status"]) == 0
    assert "waiting to sync:   1 event(s)" in capsys.readouterr().out


def test_the_server_is_remembered_after_login(
    tmp_path: Path, server: LiveServer, stop_ids: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data", str(tmp_path / "cli")]
    assert main([*data, "--server", server.url, "login", "driver_a", "--password", "pw"]) == 0
    # No --server: the one that answered the login, not the default.
    assert main([*data, "sync"]) == 0
    assert "plan changes 3" in capsys.readouterr().out
    assert main([*data, "--server", "http://127.0.0.1:9", "sync"]) == 2  # an explicit one wins


def test_an_unknown_failure_reason_lists_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(tmp_path / "cli"), "fail", "1", "--reason", "not_home"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'not_home'" in err
    assert all(reason.value in err for reason in FailureReason)


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["login"], ["password"], ["deliver"], ["fail"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = capsys.readouterr().out
        options = text.split("options:")[1]
        # Each option's line (or the line after it) says what it is for.
        lines = [line for line in options.splitlines() if line.strip()]
        for index, line in enumerate(lines):
            if line.strip().startswith("-"):
                rest = line.strip().split("  ", 1)
                described = len(rest) == 2 and rest[1].strip()
                assert described or not lines[index + 1].strip().startswith("-"), line
