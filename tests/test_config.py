"""Settings come from the environment; production refuses the demo secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import ConfigError, load_settings

PROD_OK = {
    "DOORSTEP_ENV": "production",
    "DATABASE_URL": "postgresql+psycopg://doorstep@db/doorstep",
    "DOORSTEP_SECRET_KEY": "s" * 40,
    "DOORSTEP_JWT_KEYS": "k2:" + "n" * 48 + ",k1:" + "o" * 48,
    "DOORSTEP_RECEIPT_KEYS": "r1:cHJvZHVjdGlvbi1yZWNlaXB0LXNlZWQtMzItYnl0ZXM=",
}


def test_defaults_run_on_sqlite_with_local_files(tmp_path: Path) -> None:
    settings = load_settings(environ={}, secrets_dir=tmp_path)
    assert settings.database_url.startswith("sqlite:///")
    assert settings.storage_backend == "local"


def test_production_with_real_secrets_is_accepted() -> None:
    settings = load_settings(environ=PROD_OK)
    settings.check_safe_for_production()
    assert settings.active_jwt_key[0] == "k2"
    assert [kid for kid, _ in settings.jwt_keys] == ["k2", "k1"]


@pytest.mark.parametrize(
    ("missing", "complaint"),
    [
        ("DOORSTEP_SECRET_KEY", "DOORSTEP_SECRET_KEY"),
        ("DOORSTEP_JWT_KEYS", "demo key"),
        ("DATABASE_URL", "SQLite"),
        ("DOORSTEP_RECEIPT_KEYS", "DOORSTEP_RECEIPT_KEYS"),
    ],
)
def test_production_refuses_to_start_with_a_demo_default(missing: str, complaint: str) -> None:
    environ = {k: v for k, v in PROD_OK.items() if k != missing}
    with pytest.raises(ConfigError, match=complaint):
        load_settings(environ=environ).check_safe_for_production()


def test_production_refuses_short_signing_keys() -> None:
    environ = {**PROD_OK, "DOORSTEP_JWT_KEYS": "k1:short"}
    with pytest.raises(ConfigError, match="32 characters"):
        load_settings(environ=environ).check_safe_for_production()


def test_create_app_refuses_production_with_demo_secrets() -> None:
    from backend.app import create_app

    with pytest.raises(ConfigError):
        create_app(load_settings(environ={"DOORSTEP_ENV": "production"}))


@pytest.mark.parametrize("raw", ["nokey", ":secret", "kid:", ""])
def test_malformed_key_rings_are_refused(raw: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={"DOORSTEP_JWT_KEYS": raw}, secrets_dir=tmp_path)
