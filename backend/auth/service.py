"""Login and refresh-token rotation.

Refresh tokens rotate on every use. Each login starts a *family*; using a refresh token
marks it rotated and issues the next one in the same family. If a token that was
already rotated out is presented again, someone holds a stolen copy: the whole family
is revoked and both the thief and the driver must log in again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import clock
from backend.auth.passwords import verify_password
from backend.auth.tokens import (
    Principal,
    TokenInvalid,
    TokenType,
    decode_token,
    issue_token,
    principal_from_claims,
)
from backend.config import Settings
from backend.db.models import Device, LoginThrottle, RefreshToken, User
from backend.db.session import begin_write
from backend.errors import ApiError


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def check_credentials(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    client_ip: str,
    now: datetime | None = None,
) -> User:
    """The active user these credentials prove, with failed attempts throttled.

    Shared by the API's token login and the console's form login, so both count
    towards the same per-user and per-address limits. Leaves a write transaction open
    on success (the caller commits what it adds); commits the failure count on failure.
    """
    now = now or clock.now()
    begin_write(session)
    throttle_keys = [_throttle_key("user", username.lower()), _throttle_key("ip", client_ip)]
    _refuse_if_throttled(session, settings, throttle_keys, now)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        try:
            for key in throttle_keys:
                _record_failure(session, settings, key, now)
            session.commit()
        except IntegrityError:
            # Another process recorded a failure for the same key at the same moment;
            # its count stands, and this attempt is refused all the same.
            session.rollback()
        raise ApiError(401, "invalid_credentials", "the username or password is wrong")
    for key in throttle_keys[:1]:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
    return user


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
) -> TokenPair:
    """Check the credentials and open a new token family for this device."""
    now = now or clock.now()
    user = check_credentials(session, settings, username, password, client_ip, now)
    device = _register_device(session, user, device_key, now)
    pair = _issue_pair(
        session, settings, principal_of(user, device_key), device.id, uuid.uuid4().hex, now
    )
    session.commit()
    return pair


def refresh(
    session: Session, settings: Settings, refresh_token: str, now: datetime | None = None
) -> TokenPair:
    """Rotate ``refresh_token``; a rotated-out token revokes its whole family."""
    now = now or clock.now()
    try:
        claims = decode_token(settings, refresh_token, TokenType.REFRESH, now)
        principal = principal_from_claims(claims)
    except TokenInvalid as exc:
        raise ApiError(401, exc.code, exc.message) from exc
    begin_write(session)
    stored = session.scalars(
        select(RefreshToken).where(RefreshToken.jti == claims["jti"]).with_for_update()
    ).one_or_none()
    if stored is None:
        raise ApiError(401, "token_revoked", "the refresh token is not recognised")
    if stored.revoked_at is not None:
        raise ApiError(401, "token_revoked", "the refresh token has been revoked")
    if stored.rotated_at is not None:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == stored.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.commit()
        raise ApiError(
            401,
            "token_reused",
            "the refresh token was already used; every session of this login is revoked",
        )
    user = session.get(User, stored.user_id)
    if user is None or not user.is_active:
        raise ApiError(401, "token_revoked", "the account is no longer active")
    stored.rotated_at = now
    # From the account as it is now: a changed role or grant applies at the next refresh.
    current = principal_of(user, principal.device_key)
    pair = _issue_pair(session, settings, current, stored.device_id, stored.family_id, now)
    session.commit()
    return pair


def _issue_pair(
    session: Session,
    settings: Settings,
    principal: Principal,
    device_id: int | None,
    family_id: str,
    now: datetime,
) -> TokenPair:
    access = issue_token(settings, TokenType.ACCESS, principal, now)
    refresh_token = issue_token(settings, TokenType.REFRESH, principal, now, family_id)
    session.add(
        RefreshToken(
            org_id=principal.org_id,
            jti=refresh_token.jti,
            family_id=family_id,
            user_id=principal.user_id,
            device_id=device_id,
            issued_at=now,
            expires_at=refresh_token.expires_at,
        )
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


def _throttle_key(kind: str, value: str) -> str:
    # Hashed so the table never stores usernames or addresses in the clear.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _refuse_if_throttled(
    session: Session, settings: Settings, keys: list[str], now: datetime
) -> None:
    window = timedelta(seconds=settings.login_window_s)
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    for row in rows:
        if row.window_start + window > now and row.failures >= settings.login_attempts_per_window:
            retry_after = int((row.window_start + window - now).total_seconds()) + 1
            raise ApiError(
                429,
                "rate_limited",
                "too many failed logins; try again later",
                headers={"Retry-After": str(retry_after)},
            )


def _record_failure(session: Session, settings: Settings, key: str, now: datetime) -> None:
    row = session.get(LoginThrottle, key)
    if row is None:
        session.add(LoginThrottle(key=key, window_start=now, failures=1))
    elif row.window_start + timedelta(seconds=settings.login_window_s) <= now:
        row.window_start = now
        row.failures = 1
    else:
        row.failures += 1
    session.flush()
