"""TOTP two-factor sign-in for console staff (RFC 6238, via pyotp).

Contract: a user enrols by asking for a secret (:func:`begin_enrolment`, shown once as
a provisioning URI and as text; asking again replaces an unconfirmed secret) and proves
their authenticator holds it with a code (:func:`confirm_enrolment`). At login,
:func:`check_code` accepts a code of the current 30-second step or one either side,
and each step only once (``last_step``), so a code cannot be replayed. Secrets never
leave this module except in the one enrolment answer: the audit log records only
that a user enrolled or was reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import audit
from backend.admin.settings import org_settings
from backend.db.models import TotpCredential, User
from backend.db.session import begin_write
from backend.domain.refusal import Refusal, not_found

ISSUER = "Doorstep"
STEP_S = 30
# Codes one step either side of now are accepted: phones' clocks drift.
DRIFT_STEPS = 1


@dataclass(frozen=True)
class Enrolment:
    """What the user types or scans into their authenticator: shown once."""

    secret: str
    provisioning_uri: str


def _credential(session: Session, user_id: int) -> TotpCredential | None:
    return session.scalars(
        select(TotpCredential).where(TotpCredential.user_id == user_id)
    ).one_or_none()


def is_enrolled(session: Session, user_id: int) -> bool:
    credential = _credential(session, user_id)
    return credential is not None and credential.confirmed_at is not None


def required_for(session: Session, user: User) -> bool:
    """Whether the user's organization requires staff to sign in with a code."""
    return org_settings(session, user.org_id).require_staff_totp


def begin_enrolment(session: Session, user: User) -> Enrolment:
    """A new secret for ``user`` (committed, unconfirmed until a code proves it)."""
    begin_write(session)
    credential = _credential(session, user.id)
    if credential is not None and credential.confirmed_at is not None:
        raise Refusal(
            "totp_already_enrolled",
            "two-factor sign-in is already set up for this account; an admin can reset it",
        )
    secret = pyotp.random_base32()
    if credential is None:
        credential = TotpCredential(org_id=user.org_id, user_id=user.id, created_at=clock.now())
        session.add(credential)
    credential.secret = secret
    credential.last_step = None
    session.commit()
    uri = pyotp.TOTP(secret, interval=STEP_S).provisioning_uri(
        name=user.username, issuer_name=ISSUER
    )
    return Enrolment(secret, uri)


def _accept(credential: TotpCredential, code: str, now: datetime) -> bool:
    """Whether ``code`` is good now and not used before; marks its step used."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(credential.secret, interval=STEP_S)
    current = int(now.timestamp()) // STEP_S
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if credential.last_step is not None and step <= credential.last_step:
            continue
        if pyotp.utils.strings_equal(totp.at(step * STEP_S), code):
            credential.last_step = step
            return True
    return False


def confirm_enrolment(session: Session, user: User, code: str) -> None:
    """Finish enrolling with a code from the authenticator (committed, audited)."""
    begin_write(session)
    credential = _credential(session, user.id)
    if credential is None or credential.confirmed_at is not None:
        raise Refusal(
            "totp_not_pending",
            "start setting up two-factor sign-in again",
            field="code",
        )
    if not _accept(credential, code, clock.now()):
        raise Refusal(
            "invalid_totp_code",
            "that code is not right; enter the 6 digits your authenticator shows now",
            field="code",
        )
    credential.confirmed_at = clock.now()
    audit.record(
        session,
        user.org_id,
        user.username,
        user.id,
        "user.totp_enrol",
        "user",
        user.id,
        before={"two_factor": False},
        after={"two_factor": True},
    )
    session.commit()


def check_code(session: Session, user_id: int, code: str) -> bool:
    """Whether ``code`` signs ``user_id`` in (a used code never does again); committed."""
    begin_write(session)
    credential = _credential(session, user_id)
    ok = (
        credential is not None
        and credential.confirmed_at is not None
        and _accept(credential, code, clock.now())
    )
    session.commit()
    return ok


def reset(session: Session, user_id: int, *, actor: str, actor_user_id: int | None) -> None:
    """Remove a user's second factor (a lost phone); they enrol again (committed, audited)."""
    begin_write(session)
    if session.get(User, user_id) is None:
        raise not_found("user")
    credential = _credential(session, user_id)
    if credential is None:
        return
    enrolled = credential.confirmed_at is not None
    session.delete(credential)
    audit.record(
        session,
        credential.org_id,
        actor,
        actor_user_id,
        "user.totp_reset",
        "user",
        user_id,
        before={"two_factor": enrolled},
        after={"two_factor": False},
    )
    session.commit()
