"""Tenants: the operator creates an organization with its first admin, and lists them.

An organization's slug comes from its name (lower case, words joined by "-") and is
unique; creating one that exists is refused rather than repeated, because repeating
would hand out a second one-time password for the same admin.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.admin import audit, people
from backend.db.models import Organization, User
from backend.db.session import begin_write
from backend.domain.refusal import Refusal
from backend.domain.roles import Role


@dataclass(frozen=True)
class NewOrganization:
    organization: Organization
    admin: people.NewAccount


@dataclass(frozen=True)
class OrganizationSummary:
    organization: Organization
    active_users: int
    admins: list[str]


def slug_of(name: str) -> str:
    """ "Acme Deliveries, Inc." -> "acme-deliveries-inc"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")


def valid_timezone(name: str) -> str:
    """``name`` if it is an IANA zone ("Area/City" or "UTC"), else a field refusal."""
    zone = name.strip()
    message = f"unknown time zone {name!r}; use an IANA name such as Europe/Paris or UTC"
    try:
        if zone not in available_timezones():
            raise ZoneInfoNotFoundError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refusal(
            "unknown_timezone", message, field="timezone", errors={"timezone": [message]}
        ) from None
    return zone


def create_organization(
    session: Session,
    *,
    name: str,
    timezone: str,
    admin_username: str,
    admin_password: str | None = None,
) -> NewOrganization:
    """The tenant and its first admin, who must change the password at first sign-in.

    Everything is checked before anything is written; the whole is one transaction.
    """
    begin_write(session)
    clean_name = " ".join(name.split())
    slug = slug_of(clean_name)
    if not slug or len(clean_name) > 200:
        message = "give a name of 1 to 200 characters with at least one letter or digit"
        raise Refusal("validation_error", message, field="name", errors={"name": [message]})
    zone = valid_timezone(timezone)
    taken = session.scalar(select(Organization.id).where(Organization.slug == slug))
    if taken is not None:
        message = f"an organization with the slug {slug!r} exists already"
        raise Refusal("org_exists", message, field="name", errors={"name": [message]})
    organization = Organization(name=clean_name, slug=slug, timezone=zone)
    session.add(organization)
    session.flush()
    audit.record(
        session,
        organization.id,
        audit.OPERATOR,
        None,
        "organization.create",
        "organization",
        organization.id,
        None,
        {"name": clean_name, "slug": slug, "timezone": zone},
    )
    # add_user commits the organization, the admin and both audit entries together.
    admin = people.add_user(
        session,
        people.OPERATOR,
        organization.id,
        username=admin_username,
        role=Role.ADMIN,
        password=admin_password,
        must_change_password=True,
    )
    return NewOrganization(organization, admin)


def list_organizations(session: Session) -> list[OrganizationSummary]:
    """Every tenant (the operator's view), oldest first, with its active users and admins."""
    counts = dict(
        session.execute(
            select(User.org_id, func.count()).where(User.is_active.is_(True)).group_by(User.org_id)
        ).all()
    )
    admins: dict[int, list[str]] = {}
    for org_id, username in session.execute(
        select(User.org_id, User.username)
        .where(User.role == Role.ADMIN, User.is_active.is_(True))
        .order_by(User.username)
    ):
        admins.setdefault(org_id, []).append(username)
    return [
        OrganizationSummary(org, counts.get(org.id, 0), admins.get(org.id, []))
        for org in session.scalars(select(Organization).order_by(Organization.id))
    ]
