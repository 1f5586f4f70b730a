"""The SQLAlchemy models: the one place the schema is described.

Alembic migrations in ``migrations/`` create this schema; a test checks that the two
agree. Every tenant-owned table carries ``org_id`` through :class:`TenantScoped`, and
the session adds ``org_id = <current tenant>`` to every ORM query (see
``backend.db.session``), so a query that forgets the tenant still cannot cross it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from backend.db.types import UTCDateTime, utcnow
from backend.domain.roles import Role
from backend.domain.stops import StopStatus

# Deterministic constraint names, so migrations can name what they alter on any backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, but plain INTEGER on SQLite so they stay rowid aliases.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _enum(cls: type[Any], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantScoped:
    """Mixin for rows owned by one organization."""

    @declared_attr
    def org_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr receives the class
        # No index of its own: every query carries org_id (the session adds it), so
        # each table's lookup indexes lead with org_id instead. A lone org_id index
        # tempts planners without statistics (SQLite) into scanning a whole tenant.
        return mapped_column(
            BigId, ForeignKey("organization.id", ondelete="CASCADE"), nullable=False
        )


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # How far from the stop (beyond the fix's own accuracy) a proof may be captured
    # before it becomes a geofence exception.
    geofence_threshold_m: Mapped[int] = mapped_column(Integer, default=150)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The rest of the current settings (backend.domain.org_settings.OrgSettings), and
    # their version (0: never changed). Read only through backend.admin.settings.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    settings_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgSettingsVersion(TenantScoped, Base):
    """One version of an organization's settings, whole, kept forever: who, when, what."""

    __tablename__ = "org_settings_version"
    __table_args__ = (UniqueConstraint("org_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    # Who changed them, as a person reads it (kept even if the user row goes away).
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Depot(TenantScoped, Base):
    __tablename__ = "depot"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A retired depot stays for the stops and manifests that name it, but no new stop
    # may name it.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class User(TenantScoped, Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Usernames are unique across tenants: the login form does not ask for a tenant.
    username: Mapped[str] = mapped_column(String(150), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    depot_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("depot.id", ondelete="SET NULL"), nullable=True
    )
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by a reset (an admin's or an operator's): until the user chooses a password
    # of their own, their tokens and console session may only change it.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Grant values (backend.domain.roles.Grant) held on top of the role.
    grants: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(TenantScoped, Base):
    """A handheld, identified by the id its app chose at install time."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("org_id", "device_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_key: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last time (server clock) the device sent every event it held: anything it
    # recorded before then would have been in that request.
    drained_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the app says of itself in its sync requests (older apps say nothing).
    app_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # How many events the app said it still held after its last sync request.
    pending_events: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # When an admin revoked it (lost or stolen): every login it held ended then. It may
    # log in again with a password; what it captured before still counts.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TotpCredential(TenantScoped, Base):
    """A console user's TOTP two-factor secret (RFC 6238), confirmed with a code.

    The secret is never shown again after enrolment, nor written to the audit log or
    any log line. ``last_step`` is the time step of the last code accepted: a code is
    good once, so one seen over a shoulder cannot be replayed within its window.
    """

    __tablename__ = "totp_credential"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="CASCADE"), unique=True
    )
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None until the user proved with a code that their authenticator holds the secret.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RefreshToken(TenantScoped, Base):
    """One issued refresh token. Tokens rotate; a family is one login's chain."""

    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("device.id", ondelete="SET NULL"), nullable=True
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The access token issued alongside, so a retried refresh can re-sign the very same
    # pair (same ids, same lifetimes) without the server ever storing a token.
    access_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The token this one was rotated into: what a retry within the grace window gets.
    successor_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LoginThrottle(Base):
    """Failed logins from one source (an account and address, or an address alone).

    Shared by every API process. Past the free attempts, each failure doubles how long
    the source must wait (``blocked_until``); a quiet source is forgotten.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsoleSession(TenantScoped, Base):
    """One console login, so logging out or deactivation ends it on the server.

    The browser's signed cookie carries a random token; only its SHA-256 is stored, so
    reading this table does not let anyone take over a session.
    """

    __tablename__ = "console_session"
    __table_args__ = (Index("ix_console_session_org_user", "org_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Manifest(TenantScoped, Base):
    """One driver's stops for one service date."""

    __tablename__ = "manifest"
    __table_args__ = (UniqueConstraint("org_id", "driver_id", "service_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    driver_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="CASCADE"))
    service_date: Mapped[date] = mapped_column(Date)
    depot_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("depot.id", ondelete="SET NULL"), nullable=True
    )
    # Bumped by every change a driver could see; the ETag is built from it, so a
    # revalidation costs one row read instead of re-reading every stop.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    driver: Mapped[User] = relationship(lazy="joined")
    stops: Mapped[list[Stop]] = relationship(
        back_populates="manifest", order_by="Stop.sequence", lazy="raise"
    )


class Stop(TenantScoped, Base):
    __tablename__ = "stop"
    __table_args__ = (
        UniqueConstraint("org_id", "service_date", "order_number"),
        Index("ix_stop_manifest_sequence", "org_id", "manifest_id", "sequence"),
        Index("ix_stop_org_date", "org_id", "service_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_date: Mapped[date] = mapped_column(Date)
    order_number: Mapped[str] = mapped_column(String(64))
    manifest_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("manifest.id", ondelete="SET NULL"), nullable=True
    )
    depot_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("depot.id", ondelete="SET NULL"), nullable=True
    )
    sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    address: Mapped[str] = mapped_column(String(500))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # A GeoJSON Polygon ``coordinates`` array ([[[lon, lat], ...]]), or null.
    geofence: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The window promised to the customer at planning time. It may differ from the
    # driver's working window above; on-time is judged against this one, and every
    # later change to it is kept in ``promise_change``.
    promised_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    promised_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    recipient_phone: Mapped[str] = mapped_column(String(40), default="")
    # Where the recipient's messages go (tracking link, arriving soon, delivered).
    recipient_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    proof_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[StopStatus] = mapped_column(
        _enum(StopStatus, "stop_status"), default=StopStatus.PENDING
    )
    # Bumped by every plan change; devices echo the version they saw in each event.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The version at which a field the driver acts on (address, location, geofence,
    # window, recipient, proof policy) last changed; older reports are stale.
    material_version: Mapped[int] = mapped_column(Integer, default=1)
    # The plan's cancellation, kept apart from status: a delivery reported after a
    # cancellation makes the status "delivered", and the cancellation must not be lost.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    # Back office rejected this attempt and planned another (``replanned_as``): the stop
    # is withdrawn from its driver's device but stays on the manifest, as history.
    replanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replanned_as_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stop.id", ondelete="SET NULL"), nullable=True
    )
    # A re-planned copy whose original was reported on after all: withdrawn from every
    # driver until back office cancels or keeps it, so a parcel is not attempted twice.
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    manifest: Mapped[Manifest | None] = relationship(back_populates="stops", lazy="raise")
    parcels: Mapped[list[Parcel]] = relationship(
        back_populates="stop",
        order_by="Parcel.id",
        lazy="raise",
        cascade="all, delete-orphan",
    )


class Parcel(TenantScoped, Base):
    __tablename__ = "parcel"
    __table_args__ = (
        UniqueConstraint("stop_id", "barcode"),
        Index("ix_parcel_org_barcode", "org_id", "barcode"),
        Index("ix_parcel_org_stop", "org_id", "stop_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    barcode: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200), default="")

    stop: Mapped[Stop] = relationship(back_populates="parcels", lazy="raise")


class PlanChange(TenantScoped, Base):
    """One change to what a driver should see, in the order drivers must see them.

    ``seq`` is the sync cursor. Writers take the driver's feed lock before inserting
    (see ``backend.sync.changes``), so each driver's rows commit in ``seq`` order and a
    reader of that feed that has seen ``seq = n`` never later finds a committed row
    below n.
    """

    __tablename__ = "plan_change"
    __table_args__ = (
        Index("ix_plan_change_feed", "org_id", "driver_id", "seq"),
        Index("ix_plan_change_seen", "org_id", "driver_id", "stop_id", "stop_version"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    driver_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="CASCADE"))
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    # "upsert": the driver must hold this version of the stop; "remove": drop it.
    kind: Mapped[str] = mapped_column(String(16))
    stop_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DoorEventRow(TenantScoped, Base):
    """A report from the door, kept forever exactly as the device sent it."""

    __tablename__ = "door_event"
    __table_args__ = (
        UniqueConstraint("org_id", "event_id"),
        Index("ix_door_event_stop", "org_id", "stop_id", "hlc"),
        Index("ix_door_event_device", "org_id", "device_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="RESTRICT"))
    driver_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="RESTRICT"))
    device_key: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hlc: Mapped[str] = mapped_column(String(100))
    base_version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Device clock minus server clock when the batch arrived (None: the device did not say).
    clock_skew_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The device's drained_at when this event arrived: it cannot have been recorded
    # (much) earlier, or it would have come with that request.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # sha256 of the canonical event content: the same id with other content is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # What the server answered the first time; a resend gets the same answer.
    result: Mapped[str] = mapped_column(String(16))
    result_code: Mapped[str] = mapped_column(String(64), default="")


class EventEvidence(TenantScoped, Base):
    """Which files an event references (an event may cite several, a file many events)."""

    __tablename__ = "event_evidence"
    __table_args__ = (
        UniqueConstraint("event_row_id", "sha256"),
        Index("ix_event_evidence_sha256", "org_id", "sha256"),
        Index("ix_event_evidence_event", "org_id", "event_row_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_row_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("door_event.id", ondelete="CASCADE")
    )
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))


class EvidenceFile(TenantScoped, Base):
    """A file some event references, by content hash; stored once per tenant."""

    __tablename__ = "evidence_file"
    # Reached by (org_id, sha256) only: an index starting from the tenant's pending
    # files (many at the end of a shift) would only tempt planners (migration 0008).
    __table_args__ = (UniqueConstraint("org_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    # pending until the bytes arrived and their hash was checked by the server.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when the retention job deleted the bytes; the hash (and so the proof's
    # digest and receipt) stays verifiable, the file itself is gone.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why the verified bytes are not the image they were declared as (a stable reason
    # such as "not_an_image" or "image_too_large"); null when they decoded. Decided once
    # when the hash verifies: the bytes are kept, but never count as proof.
    invalid_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conflict(TenantScoped, Base):
    """A disagreement between the plan and the door, or between doors, for back office."""

    __tablename__ = "conflict"
    __table_args__ = (UniqueConstraint("org_id", "stop_id", "kind", "event_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(40))
    # Sorted event ids joined by ",", hashed when long: one conflict per disagreement.
    event_key: Mapped[str] = mapped_column(String(64))
    event_ids: Mapped[list[str]] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    resolution_note: Mapped[str] = mapped_column(Text, default="")


class Proof(TenantScoped, Base):
    """The server's sealed record of one delivery: digest, receipt, geo check."""

    __tablename__ = "proof"
    __table_args__ = (
        UniqueConstraint("org_id", "event_id"),
        Index("ix_proof_stop", "org_id", "stop_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="RESTRICT"))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    file_hashes: Mapped[list[str]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)
    geo_check: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExceptionDecision(TenantScoped, Base):
    """A person's decision on one reconciliation exception: the audit trail."""

    __tablename__ = "exception_decision"
    __table_args__ = (Index("ix_exception_decision_stop", "org_id", "stop_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(40))
    # accept: cleared; reject: the stop is re-planned for another attempt; annotate: a note.
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="RESTRICT"))
    replanned_stop_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stop.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dispute(TenantScoped, Base):
    """A customer's claim about a delivery, settled by support with the evidence.

    While a dispute is open the stop's proof is on legal hold: no retention job may
    delete its evidence.
    """

    __tablename__ = "dispute"
    __table_args__ = (Index("ix_dispute_status", "org_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    # For upheld disputes: "refund" or "redeliver".
    remedy: Mapped[str] = mapped_column(String(16), default="")
    # A refund's amount, in the currency's major unit (ISO 4217 code).
    refund_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    refund_currency: Mapped[str] = mapped_column(String(3), default="", server_default="")
    # A redelivery is a new stop for dispatch: another attempt of the same order.
    redelivery_stop_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stop.id", ondelete="SET NULL"), nullable=True
    )
    resolution: Mapped[str] = mapped_column(Text, default="")
    evidence_cited: Mapped[list[str]] = mapped_column(JSON, default=list)
    customer_reference: Mapped[str] = mapped_column(String(120), default="")
    # The staff member who opened it; None when the recipient opened it from the
    # tracking page (``opened_via`` says which).
    opened_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="RESTRICT"), nullable=True
    )
    # "staff" (the console or the API) or "recipient" (the tracking page).
    opened_via: Mapped[str] = mapped_column(String(16), default="staff", server_default="staff")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DisputeNote(TenantScoped, Base):
    __tablename__ = "dispute_note"
    __table_args__ = (Index("ix_dispute_note_dispute", "org_id", "dispute_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(BigId, ForeignKey("dispute.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(TenantScoped, Base):
    """An integrator's URL for delivery events."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(TenantScoped, Base):
    """One event owed to one endpoint; the table is the retry queue, so it survives
    restarts: a worker picks rows that are due, and reschedules failures."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(TenantScoped, Base):
    """One administrative action: who did what to which record, before and after.

    Append-only: written by ``backend.admin.audit.record`` and never changed or deleted
    (the session refuses to flush an update or delete of an entry).
    """

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_org_at", "org_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The signed-in user who acted; None for an operator at the server's command line.
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    # Who acted, as a person reads it (kept even if the user row goes away).
    actor: Mapped[str] = mapped_column(String(200))
    # What was done, as "<thing>.<verb>": "user.create", "depot.retire", ...
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class PromiseChange(TenantScoped, Base):
    """One version of the window promised to a stop's customer, oldest first.

    The first row is the promise made at planning time; each later row is a change
    (a dispatcher's edit, a reschedule). Never updated or deleted: on-time and the
    customer's history are judged against what was promised when.
    """

    __tablename__ = "promise_change"
    __table_args__ = (Index("ix_promise_change_stop", "org_id", "stop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    promised_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    promised_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why it changed: "planned", "changed", "rescheduled", ...
    reason: Mapped[str] = mapped_column(String(32))
    changed_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StopEta(TenantScoped, Base):
    """The current estimate of when the driver reaches a stop: one row per open stop,
    rewritten as the driver's day moves (``backend.eta``); what the tracking page,
    the notifications and the console read."""

    __tablename__ = "stop_eta"

    stop_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stop.id", ondelete="CASCADE"), primary_key=True
    )
    eta_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How many of the driver's open stops come before this one.
    stops_before: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EtaSnapshot(TenantScoped, Base):
    """An ETA as it was shown at a moment: appended whenever a stop's estimate is
    computed and has moved, so ETA accuracy (by lead time) can be measured later
    against the actual arrival. Append-only."""

    __tablename__ = "eta_snapshot"
    __table_args__ = (Index("ix_eta_snapshot_stop", "org_id", "stop_id", "computed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    eta_at: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TrackingToken(TenantScoped, Base):
    """The recipient's key to one order's tracking page (``/t/<token>``).

    The token is an HMAC of ``nonce`` under the server's secret key, so the server can
    write the link again into every message while the table alone (a backup, a read
    replica) cannot be turned into working links; lookups go by ``token_hash``. The
    token names the stop it was issued for; the page follows ``stop.replanned_as`` to
    the order's latest attempt. Revocable, and it expires a set time after the
    order's final outcome (``expires_at`` is set then). See ``backend.tracking.tokens``.
    """

    __tablename__ = "tracking_token"
    __table_args__ = (Index("ix_tracking_token_stop", "org_id", "stop_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(32))
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DriverPosition(TenantScoped, Base):
    """A driver's latest reported position during a shift: one row per driver,
    overwritten by each sync that carries a newer fix (``backend.eta``)."""

    __tablename__ = "driver_position"

    driver_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DriverFix(TenantScoped, Base):
    """The day's trail of a driver's fixes, bounded per driver and day (the oldest
    are dropped past the bound); sent in sync requests during the shift only."""

    __tablename__ = "driver_fix"
    __table_args__ = (
        Index("ix_driver_fix_driver_day", "org_id", "driver_id", "service_date", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    driver_id: Mapped[int] = mapped_column(BigId, ForeignKey("app_user.id", ondelete="CASCADE"))
    service_date: Mapped[date] = mapped_column(Date)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(TenantScoped, Base):
    """One message owed to one recipient address: the notifications outbox.

    Written in the same transaction as the change that causes it; ``dedupe_key`` is
    unique per organization, so an event resent any number of times queues the message
    once. The worker claims a row (``sending`` + ``claimed_at``, committed) before it
    talks to the transport, so a crash mid-send leaves a row that is never sent again
    blindly (see ``backend.notifications.worker``).
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("org_id", "dedupe_key"),
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_stop", "org_id", "stop_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    # out_for_delivery, arriving_soon, delivered, failed, rescheduled, dispute_settled
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(254))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    # pending, sending, sent, failed, suppressed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    # The transport's id for the sent message (SMTP Message-ID, the SMS provider's sid).
    provider_ref: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the templates need, captured when the message was queued.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NotificationOptOut(TenantScoped, Base):
    """A recipient address that asked (through its unsubscribe link) for no more
    messages on a channel; honoured when queueing and again when sending."""

    __tablename__ = "notification_opt_out"
    __table_args__ = (UniqueConstraint("org_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationTemplate(TenantScoped, Base):
    """A tenant's own wording for one kind of message (the shipped defaults in
    ``backend/notifications/templates/`` apply to every kind without a row)."""

    __tablename__ = "notification_template"
    __table_args__ = (UniqueConstraint("org_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    sms: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecipientRequest(TenantScoped, Base):
    """Something a recipient asked or said from the tracking page, for back office.

    ``kind`` is one of ``backend.domain.tracking.RequestKind`` (instructions,
    reschedule, rating, problem); ``details`` holds what they sent (the text, the
    date, the stars). Instructions and ratings are recorded as handled at once (they
    took effect); reschedule requests wait for a person (``handled_by``). A problem
    report names the dispute it opened.
    """

    __tablename__ = "recipient_request"
    __table_args__ = (
        Index("ix_recipient_request_status", "org_id", "status", "id"),
        Index("ix_recipient_request_stop", "org_id", "stop_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stop_id: Mapped[int] = mapped_column(BigId, ForeignKey("stop.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "open" until back office handled it; "handled" after.
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dispute_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("dispute.id", ondelete="SET NULL"), nullable=True
    )
