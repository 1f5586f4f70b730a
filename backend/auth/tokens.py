"""JSON Web Tokens: what we sign, and every check we make before trusting one.

Access and refresh tokens are both HS256 JWTs, told apart by the ``typ`` claim, so a
refresh token can never be replayed as an access token or the other way round. Every
token must carry exp, iat, iss, aud, sub and jti; the accepted algorithm list is
pinned (``alg: none`` and algorithm confusion are refused); the ``kid`` header picks
the verifying key from the key ring, so keys rotate without logging anyone out.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from backend import clock
from backend.config import Settings
from backend.domain.refusal import Refusal
from backend.domain.roles import Grant, Role

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]
LEEWAY_S = 30


class TokenType(enum.StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class TokenInvalid(Refusal):
    """The token must not be trusted; ``code`` says why, in stable words."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by a valid access token."""

    user_id: int
    org_id: int
    role: Role
    username: str
    device_key: str | None
    grants: frozenset[str] = frozenset()

    def may(self, *roles: Role, grant: Grant | None = None) -> bool:
        """Whether the caller holds one of ``roles``, or ``grant``; admins may all.

        The one permission rule, for the API's guard and the console alike.
        """
        return (
            self.role in roles
            or self.role is Role.ADMIN
            or (grant is not None and grant.value in self.grants)
        )


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def issue_token(
    settings: Settings,
    typ: TokenType,
    principal: Principal,
    now: datetime | None = None,
    family_id: str | None = None,
    jti: str | None = None,
) -> IssuedToken:
    """Sign a token; ``jti`` and ``now`` are given only to re-sign one already issued."""
    now = now or clock.now()
    ttl = settings.access_token_ttl_s if typ is TokenType.ACCESS else settings.refresh_token_ttl_s
    expires_at = now + timedelta(seconds=ttl)
    jti = jti or uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(principal.user_id),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
        "typ": typ.value,
        "org": principal.org_id,
        "role": principal.role.value,
        "name": principal.username,
    }
    if principal.device_key is not None:
        claims["dev"] = principal.device_key
    if principal.grants:
        claims["grants"] = sorted(principal.grants)
    if family_id is not None:
        claims["fam"] = family_id
    kid, secret = settings.active_jwt_key
    token = jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})
    return IssuedToken(token=token, jti=jti, expires_at=expires_at)


def decode_token(
    settings: Settings, token: str, expected: TokenType, now: datetime | None = None
) -> dict[str, Any]:
    """Verify ``token`` completely and return its claims, or raise TokenInvalid."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("token_malformed", "the token is not a well-formed JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenInvalid("token_algorithm", "the token's algorithm is not accepted")
    keys = dict(settings.jwt_keys)
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenInvalid("token_unknown_key", "the token was not signed by a known key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys[kid],
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            # Lifetimes are checked below against the application's clock, not the
            # machine's: time is an input (backend/domain/clock.py).
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidAudienceError as exc:
        raise TokenInvalid("token_audience", "the token is for another audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenInvalid("token_issuer", "the token is from another issuer") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenInvalid("token_claims", f"the token lacks the {exc.claim} claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenInvalid("token_signature", "the token's signature does not match") from exc
    except jwt.PyJWTError as exc:
        raise TokenInvalid("token_invalid", "the token is not valid") from exc
    _check_lifetime(claims, now or clock.now())
    if claims.get("typ") != expected.value:
        raise TokenInvalid("token_type", f"a {expected.value} token is required here")
    return claims


def _check_lifetime(claims: dict[str, Any], now: datetime) -> None:
    """``iat <= now < exp``, each with LEEWAY_S for clocks that drift between servers."""
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (issued, expires)):
        raise TokenInvalid("token_claims", "the token's iat and exp must be integers")
    moment = now.timestamp()
    if expires + LEEWAY_S <= moment:
        raise TokenInvalid("token_expired", "the token has expired")
    if issued - LEEWAY_S > moment:
        raise TokenInvalid("token_invalid", "the token is not valid yet")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        return Principal(
            user_id=int(claims["sub"]),
            org_id=int(claims["org"]),
            role=Role(claims["role"]),
            username=str(claims["name"]),
            device_key=claims.get("dev"),
            grants=frozenset(str(g) for g in claims.get("grants") or ()),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid("token_claims", "the token's claims are incomplete") from exc
