"""Builders for test data, written straight to the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from backend.auth.passwords import hash_password
from backend.db.models import Manifest, Organization, Parcel, PlanChange, Stop, User
from backend.domain.roles import Role

# Hashing is deliberately slow; every test user shares one precomputed hash of "pw".
_PW_HASH = hash_password("pw")

SERVICE_DATE = date(2026, 11, 24)


def make_org(session: Session, slug: str, timezone: str = "UTC") -> Organization:
    org = Organization(slug=slug, name=slug.title(), timezone=timezone)
    session.add(org)
    session.flush()
    return org


def make_user(session: Session, org: Organization, username: str, role: str) -> User:
    user = User(
        org_id=org.id,
        username=username,
        full_name=username.replace("_", " ").title(),
        password_hash=_PW_HASH,
        role=Role(role),
    )
    session.add(user)
    session.flush()
    return user


def make_manifest(
    session: Session,
    org_id: int,
    driver_id: int,
    stops: int = 3,
    service_date: date = SERVICE_DATE,
    **stop_fields: Any,
) -> Manifest:
    manifest = Manifest(org_id=org_id, driver_id=driver_id, service_date=service_date)
    session.add(manifest)
    session.flush()
    for n in range(1, stops + 1):
        stop = Stop(
            org_id=org_id,
            service_date=service_date,
            order_number=f"ORD-{manifest.id}-{n}",
            manifest_id=manifest.id,
            sequence=n,
            address=f"{100 + n} Pine St, Seattle, WA 98101",
            lat=47.61 + n / 1000,
            lon=-122.33 - n / 1000,
            window_start=datetime.combine(service_date, time(9, 0), UTC),
            window_end=datetime.combine(service_date, time(17, 0), UTC),
            recipient_name=f"Recipient {n}",
            proof_policy={"signature": True},
            **stop_fields,
        )
        session.add(stop)
        session.flush()
        session.add(Parcel(org_id=org_id, stop_id=stop.id, barcode=f"PKG{manifest.id:04d}{n:04d}"))
        # Publish version 1 to the driver, as an import or assignment would.
        session.add(
            PlanChange(
                org_id=org_id, driver_id=driver_id, stop_id=stop.id, kind="upsert", stop_version=1
            )
        )
    session.flush()
    return manifest
