"""Login and refresh-token rotation.

Refresh tokens rotate on every use. Each login starts a *family*; using a refresh token
marks it rotated and issues the next one in the same family. If a token that was
already rotated out is presented again, someone holds a stolen copy: the whole family
is revoked and both the thief and the driver must log in again. The one exception is a
retry within ``refresh_retry_grace_s`` of the rotation, while the new token is still
unused: a handheld whose response was lost on a flaky network gets the same new pair
again (re-signed from the stored token ids and issue time, so no token is ever stored).

Failed logins are throttled per source, never per account alone (OWASP), so nobody can
lock a driver out by guessing at their account: a source is an account seen from one
address, or from one device that has logged in to that account before (a known
device), and separately an address across all accounts. Past the free failures each
failure doubles the source's wait (see Settings.login_first_delay_s).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import clock
from backend.admin import totp
from backend.auth.passwords import verify_password
from backend.auth.tokens import (
    Principal,
    TokenType,
    decode_token,
    issue_token,
    principal_from_claims,
)
from backend.config import Settings
from backend.db.models import Device, LoginThrottle, RefreshToken, User
from backend.db.session import begin_write
from backend.domain.refusal import Refusal
from backend.domain.roles import Grant, Role


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    # The account must choose a new password before anything else (backend.auth.guard).
    must_change_password: bool = False


@dataclass(frozen=True)
class _Throttle:
    """One counter a login attempt is checked against and charged to."""

    key: str
    free_failures: int
    # False for the address counter when a known device logs in: one device must not
    # be stopped because others at the same depot (same address) mistyped or attacked.
    enforced: bool = True


def check_credentials(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    client_ip: str,
    *,
    device_key: str | None = None,
    now: datetime | None = None,
) -> User:
    """The active user these credentials prove, with failed attempts throttled.

    Shared by the API's token login and the console's form login, so both count
    towards the same limits. Leaves a write transaction open on success (the caller
    commits what it adds); commits the failure count on failure.
    """
    now = now or clock.now()
    begin_write(session)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    known_device = user is not None and _is_known_device(session, user, device_key)
    throttles = _throttles_for(settings, username, client_ip, device_key if known_device else None)
    _refuse_if_throttled(session, throttles, now)
    # Unknown users are checked against a dummy hash: one Argon2 verification either way.
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        try:
            for throttle in throttles:
                _record_failure(session, settings, throttle, now)
            session.commit()
        except IntegrityError:
            # Another process recorded a failure for the same key at the same moment;
            # its count stands, and this attempt is refused all the same.
            session.rollback()
        raise Refusal("invalid_credentials", "the username or password is wrong")
    # Success forgets this source's failures; the address counter keeps spraying in view.
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == throttles[0].key))
    return user


# Staff sign in with a TOTP code too when enrolled (or when their organization requires
# it); drivers' handhelds never ask.
SECOND_FACTOR_ROLES = frozenset({Role.DISPATCHER, Role.SUPPORT, Role.ADMIN})


def _check_second_factor(
    session: Session,
    settings: Settings,
    user: User,
    code: str | None,
    client_ip: str,
    now: datetime,
) -> None:
    """Refuse a staff login that owes a TOTP code and has none, or a wrong one (which
    counts as a failed login). Leaves a write transaction open on success."""
    enrolled = totp.is_enrolled(session, user.id)
    if not enrolled and not totp.required_for(session, user):
        return
    username = user.username
    if not enrolled:
        session.commit()  # the password was right: its throttle stays forgotten
        raise Refusal(
            "totp_enrolment_required",
            "this organization requires two-factor sign-in: set it up in the console first",
            field="totp_code",
        )
    if not code:
        session.commit()
        raise Refusal(
            "totp_code_required",
            "this account signs in with a code from its authenticator app too (totp_code)",
            field="totp_code",
        )
    if not totp.check_code(session, user.id, code):
        count_failed_login(session, settings, username, client_ip, now)
        raise Refusal(
            "invalid_totp_code",
            "that code is not right; enter the 6 digits your authenticator shows now",
            field="totp_code",
        )
    begin_write(session)  # check_code committed; the login's writes follow


def refuse_if_login_throttled(
    session: Session, settings: Settings, username: str, client_ip: str, now: datetime
) -> None:
    """Refuse (``rate_limited``) while this source must wait: the second step of a
    login (a TOTP code) is held to the same limits as the password."""
    _refuse_if_throttled(session, _throttles_for(settings, username, client_ip, None), now)


def count_failed_login(
    session: Session, settings: Settings, username: str, client_ip: str, now: datetime
) -> None:
    """Count a failed second step (a wrong TOTP code) as a failed login, and commit."""
    begin_write(session)
    try:
        for throttle in _throttles_for(settings, username, client_ip, None):
            _record_failure(session, settings, throttle, now)
        session.commit()
    except IntegrityError:
        session.rollback()


def usernames(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Username by user id, in one query: audit trails store ids, people read names."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {user_id: username for user_id, username in rows}


def principal_of(user: User, device_key: str | None = None) -> Principal:
    return Principal(
        user.id, user.org_id, user.role, user.username, device_key, frozenset(user.grants or ())
    )


def login(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    device_key: str,
    client_ip: str,
    now: datetime | None = None,
    totp_code: str | None = None,
) -> TokenPair:
    """Check the credentials (and a staff member's TOTP code, when they have or their
    organization requires two-factor sign-in), then open a new token family for this
    device."""
    now = now or clock.now()
    user = check_credentials(
        session, settings, username, password, client_ip, device_key=device_key, now=now
    )
    if user.role in SECOND_FACTOR_ROLES:
        _check_second_factor(session, settings, user, totp_code, client_ip, now)
    device = _register_device(session, user, device_key, now)
    pair, _ = _issue_pair(
        session, settings, principal_of(user, device_key), device.id, uuid.uuid4().hex, now
    )
    session.commit()
    return replace(pair, must_change_password=user.must_change_password)


def refresh(
    session: Session, settings: Settings, refresh_token: str, now: datetime | None = None
) -> TokenPair:
    """Rotate ``refresh_token``; a rotated-out token revokes its whole family, unless it
    is a retry within the grace window (then it gets the pair its rotation issued)."""
    now = now or clock.now()
    claims = decode_token(settings, refresh_token, TokenType.REFRESH, now)
    principal = principal_from_claims(claims)
    begin_write(session)
    stored = session.scalars(
        select(RefreshToken).where(RefreshToken.jti == claims["jti"]).with_for_update()
    ).one_or_none()
    if stored is None:
        raise Refusal("token_revoked", "the refresh token is not recognised")
    if stored.revoked_at is not None:
        raise Refusal("token_revoked", "the refresh token has been revoked")
    user = session.get(User, stored.user_id)
    if user is None or not user.is_active:
        raise Refusal("token_revoked", "the account is no longer active")
    if stored.rotated_at is not None:
        successor = _unused_successor_in_grace(session, settings, stored, now)
        if successor is not None:
            pair = _resign_pair(settings, principal_of(user, principal.device_key), successor)
            change_due = user.must_change_password
            session.rollback()  # nothing to write: the retry gets what was issued
            return replace(pair, must_change_password=change_due)
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == stored.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.commit()
        raise Refusal(
            "token_reused",
            "the refresh token was already used; every session of this login is revoked",
        )
    stored.rotated_at = now
    # From the account as it is now: a changed role or grant applies at the next refresh.
    current = principal_of(user, principal.device_key)
    pair, successor = _issue_pair(
        session, settings, current, stored.device_id, stored.family_id, now
    )
    stored.successor_jti = successor.jti
    change_due = user.must_change_password
    session.commit()
    return replace(pair, must_change_password=change_due)


def _unused_successor_in_grace(
    session: Session, settings: Settings, rotated: RefreshToken, now: datetime
) -> RefreshToken | None:
    """The token ``rotated`` was rotated into, if this is a retry of that rotation.

    Only while the grace window lasts and only while the successor is unused: once the
    device has used its new token, the old one showing up again is theft, not a retry.
    """
    assert rotated.rotated_at is not None
    if rotated.successor_jti is None or now - rotated.rotated_at > timedelta(
        seconds=settings.refresh_retry_grace_s
    ):
        return None
    successor = session.scalars(
        select(RefreshToken).where(RefreshToken.jti == rotated.successor_jti)
    ).one_or_none()
    if (
        successor is None
        or successor.rotated_at is not None
        or successor.revoked_at is not None
        or successor.access_jti is None
    ):
        return None
    return successor


def _issue_pair(
    session: Session,
    settings: Settings,
    principal: Principal,
    device_id: int | None,
    family_id: str,
    now: datetime,
) -> tuple[TokenPair, RefreshToken]:
    # The access token names its family too, so revoking the family stops it at once.
    access = issue_token(settings, TokenType.ACCESS, principal, now, family_id)
    refresh_token = issue_token(settings, TokenType.REFRESH, principal, now, family_id)
    row = RefreshToken(
        org_id=principal.org_id,
        jti=refresh_token.jti,
        access_jti=access.jti,
        family_id=family_id,
        user_id=principal.user_id,
        device_id=device_id,
        issued_at=now,
        expires_at=refresh_token.expires_at,
    )
    session.add(row)
    return TokenPair(access.token, refresh_token.token, settings.access_token_ttl_s), row


def _resign_pair(settings: Settings, principal: Principal, issued: RefreshToken) -> TokenPair:
    """The pair that was issued with ``issued``, signed again: same ids, same times.

    HS256 signatures are deterministic, so for an unchanged account and key this is
    byte for byte the pair the lost response carried.
    """
    assert issued.access_jti is not None
    access = issue_token(
        settings, TokenType.ACCESS, principal, issued.issued_at, issued.family_id, issued.access_jti
    )
    refresh_token = issue_token(
        settings, TokenType.REFRESH, principal, issued.issued_at, issued.family_id, issued.jti
    )
    return TokenPair(access.token, refresh_token.token, settings.access_token_ttl_s)


def _register_device(session: Session, user: User, device_key: str, now: datetime) -> Device:
    device = session.scalars(
        select(Device).where(Device.org_id == user.org_id, Device.device_key == device_key)
    ).one_or_none()
    if device is None:
        device = Device(org_id=user.org_id, device_key=device_key, first_seen_at=now)
        session.add(device)
    device.user_id = user.id
    device.last_seen_at = now
    session.flush()
    return device


def _is_known_device(session: Session, user: User, device_key: str | None) -> bool:
    """Whether ``device_key`` last logged in to ``user``'s account successfully, and
    has not been revoked since (a stolen phone is no longer trusted to guess)."""
    if device_key is None:
        return False
    found = session.scalar(
        select(Device.id).where(
            Device.org_id == user.org_id,
            Device.device_key == device_key,
            Device.user_id == user.id,
            or_(Device.revoked_at.is_(None), Device.last_seen_at > Device.revoked_at),
        )
    )
    return found is not None


def _throttles_for(
    settings: Settings, username: str, client_ip: str, known_device: str | None
) -> list[_Throttle]:
    """The account's counter for this source first, then the address's counter.

    A known device counts per device *and* address: whoever merely claims its id from
    elsewhere fills a counter of their own, not the owner's.
    """
    source = f"{client_ip}|device:{known_device}" if known_device else client_ip
    return [
        _Throttle(
            _throttle_key("account", f"{username.lower()}|{source}"),
            settings.login_free_failures,
        ),
        _Throttle(
            _throttle_key("address", client_ip),
            settings.login_free_failures_per_address,
            enforced=known_device is None,
        ),
    ]


def _throttle_key(kind: str, value: str) -> str:
    # Hashed so the table never stores usernames or addresses in the clear.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _refuse_if_throttled(session: Session, throttles: list[_Throttle], now: datetime) -> None:
    enforced = [throttle.key for throttle in throttles if throttle.enforced]
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(enforced))).all()
    waits = [row.blocked_until for row in rows if row.blocked_until and row.blocked_until > now]
    if waits:
        retry_after = max(1, math.ceil((max(waits) - now).total_seconds()))
        raise Refusal(
            "rate_limited",
            f"too many failed logins from here; try again in {retry_after} s",
            retry_after_s=retry_after,
        )


def _record_failure(
    session: Session, settings: Settings, throttle: _Throttle, now: datetime
) -> None:
    row = session.get(LoginThrottle, throttle.key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=throttle.key, failures=0, last_failure_at=now)
        session.add(row)
    else:
        quiet_since = max(row.last_failure_at, row.blocked_until or row.last_failure_at)
        if quiet_since + timedelta(seconds=settings.login_forget_after_s) <= now:
            row.failures, row.blocked_until = 0, None
    row.failures += 1
    row.last_failure_at = now
    beyond_free = row.failures - throttle.free_failures
    if beyond_free >= 0:
        # 1 s, 2 s, 4 s ... capped: slow for guessing, short for a driver's typo.
        doublings = min(beyond_free, 32)
        delay = min(settings.login_first_delay_s * 2**doublings, settings.login_max_delay_s)
        row.blocked_until = now + timedelta(seconds=delay)
    session.flush()


def set_grant(session: Session, username: str, grant: Grant, *, held: bool) -> User:
    """Give ``username`` a permission beyond their role (``held``), or take it back;
    it takes effect at the user's next login or token refresh."""
    begin_write(session)
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise Refusal("not_found", f"no user {username!r}")
    grants = set(user.grants or ())
    if held:
        grants.add(grant.value)
    else:
        grants.discard(grant.value)
    user.grants = sorted(grants)
    session.commit()
    return user
