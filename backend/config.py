"""One settings object, read from the environment once when the app is built.

Every default is safe for `make run` on a laptop (SQLite file, local evidence folder).
Outside production, secrets not given in the environment come from a per-install file,
``var/secrets.json`` (see ``per_install_secrets``), created with random values on first
start: no server signs with the demo keys published in this repository. Production mode
(``DOORSTEP_ENV=production``) never creates that file and refuses to start while any
demo secret is still in place, so a forgotten variable fails loudly.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

SECRETS_FILE = "secrets.json"
PER_INSTALL_JWT_KID = "local-1"
PER_INSTALL_RECEIPT_KID = "receipt-local-1"

# Published demo secrets: what a bare Settings() holds, never what load_settings gives.
# load_settings replaces them outside production; production refuses them outright.
DEMO_JWT_KEY = "demo-insecure-jwt-key-change-me-0123456789abcdef"
DEMO_SECRET_KEY = "demo-insecure-flask-secret-change-me"  # noqa: S105
# Ed25519 seed (base64) that signs proof receipts in the demo.
DEMO_RECEIPT_SEED = "ZGVtby1pbnNlY3VyZS1yZWNlaXB0LXNlZWQtMzJieXQ="


class ConfigError(RuntimeError):
    """The environment describes a configuration the server must not run with."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = f"sqlite:///{VAR_DIR / 'doorstep.db'}"
    secret_key: str = DEMO_SECRET_KEY
    # Key ring for signing tokens: the first entry signs, every entry verifies, so a
    # key can be rotated in without logging every driver out mid-shift.
    jwt_keys: tuple[tuple[str, str], ...] = (("demo-1", DEMO_JWT_KEY),)
    # Receipt signing keys (Ed25519 seeds, base64): the first signs, all are published.
    receipt_keys: tuple[tuple[str, str], ...] = (("receipt-demo-1", DEMO_RECEIPT_SEED),)
    jwt_issuer: str = "doorstep"
    jwt_audience: str = "doorstep-api"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 14 * 24 * 3600
    # Login throttling (OWASP: per account and source, with growing delays rather than
    # lockouts). Failures from one account+address (or one known device) beyond the free
    # ones make that source wait 1 s, 2 s, 4 s ... up to the cap; one address failing on
    # many accounts (spraying) gets the same treatment past its own allowance. A source
    # quiet for login_forget_after_s after its last wait starts afresh.
    login_free_failures: int = 10
    login_free_failures_per_address: int = 30
    login_first_delay_s: int = 1
    login_max_delay_s: int = 15 * 60
    login_forget_after_s: int = 15 * 60
    # A refresh retried this soon after it rotated (its response was lost) gets the same
    # pair again instead of revoking the login as a stolen token would.
    refresh_retry_grace_s: int = 30
    # Tracking pages (/t/<token>, /api/v1/track/<token>): requests a minute from one
    # client address, and for one link. A page polls twice a minute; an address may
    # hold many recipients (an office, a carrier-grade NAT). Per process.
    tracking_per_ip_per_minute: int = 600
    tracking_per_link_per_minute: int = 30
    max_content_length: int = 16 * 1024 * 1024
    # Serialized manifest bodies each process keeps (an LRU keyed by manifest revision);
    # 0 turns the cache off, which the benchmark uses to measure the cold path.
    manifest_cache_entries: int = 512
    storage_backend: str = "local"
    storage_dir: Path = VAR_DIR / "evidence"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    # How many reverse proxies (load balancers) sit in front and set X-Forwarded-For;
    # 0 trusts none, so a client cannot spoof its address to dodge login throttling.
    trusted_proxies: int = 0
    # Lets webhooks target 127.0.0.1 (tests, local development); refused in production.
    webhook_allow_loopback: bool = False
    demo_password: str = "demo"  # noqa: S105 - only used to seed the demo
    # Where recipients reach this server: links in messages (/t/..., /u/...) start here.
    public_url: str = "http://127.0.0.1:8000"
    # Recipient e-mail: smtp://user:pass@host:587 (STARTTLS) or smtps://...:465; empty
    # means no e-mail is sent (see parse_smtp_url and docs/notifications.md).
    smtp_url: str = ""
    # Recipient SMS: twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=%2B1...; empty
    # means no SMS is sent (see parse_sms_url).
    sms_url: str = ""
    # Where the per-install secrets file lives outside production.
    secrets_dir: Path = VAR_DIR
    # Travel times for ETAs: "great-circle" or "osrm+http://host:5000" (backend.eta.travel).
    travel_times: str = "great-circle"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def active_jwt_key(self) -> tuple[str, str]:
        return self.jwt_keys[0]

    def check_safe_for_production(self) -> None:
        """Raise ConfigError if production mode would run with demo secrets."""
        if not self.is_production:
            return
        problems = []
        if self.secret_key == DEMO_SECRET_KEY:
            problems.append("DOORSTEP_SECRET_KEY is the demo value")
        if any(secret == DEMO_JWT_KEY for _, secret in self.jwt_keys):
            problems.append("DOORSTEP_JWT_KEYS contains the demo key")
        if any(seed == DEMO_RECEIPT_SEED for _, seed in self.receipt_keys):
            problems.append("DOORSTEP_RECEIPT_KEYS contains the demo key")
        if any(len(secret) < 32 for _, secret in self.jwt_keys):
            problems.append("every DOORSTEP_JWT_KEYS secret must be at least 32 characters")
        if self.webhook_allow_loopback:
            problems.append("DOORSTEP_WEBHOOK_ALLOW_LOOPBACK is on")
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL points at SQLite; production runs on PostgreSQL")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _single_values(query: str, name: str, known: set[str]) -> dict[str, str]:
    values = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{name}: unknown option(s) {', '.join(unknown)}")
    if any(len(v) > 1 for v in values.values()):
        raise ConfigError(f"{name}: each option may be given once")
    return {key: v[0] for key, v in values.items()}


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how recipient e-mail is handed over (from DOORSTEP_SMTP_URL)."""

    host: str
    port: int
    # "starttls" (smtp://, the default), "tls" (smtps://, TLS from the first byte) or
    # "none" (smtp://...?starttls=0, only to a server on this machine).
    security: str
    username: str
    password: str
    timeout_s: float


def parse_smtp_url(raw: str, name: str = "DOORSTEP_SMTP_URL") -> SmtpTarget:
    """``smtp://[user:pass@]host[:587][?starttls=1&timeout=20]`` or ``smtps://...:465``.

    Mail and passwords never cross a network in clear: ``starttls=0`` is refused
    unless the host is this machine (a local relay, a test server).
    """
    try:
        url = urlsplit(raw)
        port = url.port
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL: {exc}") from exc
    if url.scheme not in ("smtp", "smtps"):
        raise ConfigError(f"{name} must start with smtp:// or smtps://")
    if not url.hostname:
        raise ConfigError(f"{name} names no host")
    if url.path not in ("", "/"):
        raise ConfigError(f"{name} takes no path")
    options = _single_values(url.query, name, {"starttls", "timeout"})
    if url.scheme == "smtps":
        if "starttls" in options:
            raise ConfigError(f"{name}: smtps:// is TLS already; starttls does not apply")
        security = "tls"
    else:
        flag = options.get("starttls", "1")
        if flag not in ("0", "1"):
            raise ConfigError(f"{name}: starttls must be 0 or 1")
        security = "starttls" if flag == "1" else "none"
        if security == "none" and not _is_loopback(url.hostname):
            raise ConfigError(
                f"{name}: starttls=0 would send mail and the password in clear; "
                "only allowed to a server on this machine"
            )
    try:
        timeout_s = float(options.get("timeout", "20"))
    except ValueError as exc:
        raise ConfigError(f"{name}: timeout must be a number of seconds") from exc
    if not 0 < timeout_s <= 300:
        raise ConfigError(f"{name}: timeout must be between 0 and 300 seconds")
    if (url.username is None) != (url.password is None):
        raise ConfigError(f"{name}: give both user and password, or neither")
    return SmtpTarget(
        host=url.hostname,
        port=port or (465 if security == "tls" else 587),
        security=security,
        username=unquote(url.username or ""),
        password=unquote(url.password or ""),
        timeout_s=timeout_s,
    )


TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass(frozen=True)
class SmsTarget:
    """The SMS provider and its credentials (from DOORSTEP_SMS_URL)."""

    provider: str
    account: str
    token: str
    sender: str
    # The API's base URL: https://<host> from the URL, or ``base=`` (tests).
    base_url: str
    timeout_s: float


def parse_sms_url(raw: str, name: str = "DOORSTEP_SMS_URL") -> SmsTarget:
    """``twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=%2B15551234567``.

    ``base=http://127.0.0.1:PORT`` points the adapter at another server speaking the
    same API (a test's recorder); plain http is refused to anything but this machine.
    """
    try:
        url = urlsplit(raw)
        port = url.port
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL: {exc}") from exc
    if url.scheme != "twilio":
        raise ConfigError(f"{name}: the only SMS provider is twilio:// (see docs/notifications.md)")
    if not url.hostname:
        raise ConfigError(f"{name} names no API host (api.twilio.com)")
    account, token = unquote(url.username or ""), unquote(url.password or "")
    if not TWILIO_ACCOUNT_SID.fullmatch(account):
        raise ConfigError(f"{name}: the user must be a Twilio Account SID (AC + 32 hex digits)")
    if not token:
        raise ConfigError(f"{name}: the password must be the account's auth token")
    options = _single_values(url.query, name, {"from", "base", "timeout"})
    sender = options.get("from", "")
    if not E164.fullmatch(sender):
        raise ConfigError(f"{name}: from= must be the sending number as +E.164 (%2B15551234567)")
    base = options.get("base") or f"https://{url.hostname}" + (f":{port}" if port else "")
    try:
        parsed_base = urlsplit(base)
        parsed_base.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ConfigError(f"{name}: base= is not a valid URL") from exc
    if parsed_base.scheme not in ("http", "https") or not parsed_base.hostname:
        raise ConfigError(f"{name}: base= must be an http(s) URL")
    if parsed_base.scheme == "http" and not _is_loopback(parsed_base.hostname):
        raise ConfigError(f"{name}: base= may use plain http only to this machine")
    try:
        timeout_s = float(options.get("timeout", "15"))
    except ValueError as exc:
        raise ConfigError(f"{name}: timeout must be a number of seconds") from exc
    if not 0 < timeout_s <= 120:
        raise ConfigError(f"{name}: timeout must be between 0 and 120 seconds")
    return SmsTarget("twilio", account, token, sender, base.rstrip("/"), timeout_s)


def parse_public_url(raw: str, name: str = "DOORSTEP_PUBLIC_URL") -> str:
    """The server's address as recipients reach it, without a trailing slash."""
    try:
        url = urlsplit(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise ConfigError(f"{name} must be an http(s) URL such as https://track.example.com")
    return raw.rstrip("/")


def parse_key_ring(raw: str, name: str = "DOORSTEP_JWT_KEYS") -> tuple[tuple[str, str], ...]:
    """Parse ``kid:secret,kid:secret`` (first entry signs) into a key ring."""
    ring = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, secret = item.partition(":")
        if not sep or not kid or not secret:
            raise ConfigError(f"{name} entries must look like kid:secret")
        ring.append((kid, secret))
    if not ring:
        raise ConfigError(f"{name} is empty")
    return tuple(ring)


def per_install_secrets(folder: Path) -> dict[str, str]:
    """This install's random secrets, read from ``folder/secrets.json``, created once.

    Every process (gunicorn workers, the CLI) must end up with the same keys, so the
    file is written whole under a temporary name and then hard-linked into place, which
    fails if another process got there first: then theirs is read and used.
    """
    path = folder / SECRETS_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fresh = {
            "jwt_key": secrets.token_urlsafe(48),
            "secret_key": secrets.token_urlsafe(48),
            "receipt_seed": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        # mkstemp creates the file readable and writable by its owner only (0600).
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".secrets-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(fresh, out)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    try:
        stored = json.loads(path.read_text())
        return {name: str(stored[name]) for name in ("jwt_key", "secret_key", "receipt_seed")}
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a valid secrets file; delete it to start afresh") from exc


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from environment variables, then apply keyword overrides (tests).

    Outside production, any of the three secrets neither the environment nor an
    override gives comes from the per-install file in ``secrets_dir``
    (``DOORSTEP_SECRETS_DIR``, default ``var/``).
    """
    env = os.environ if environ is None else environ
    base = Settings()
    values: dict[str, object] = {
        "env": env.get("DOORSTEP_ENV", base.env),
        "database_url": env.get("DATABASE_URL", base.database_url),
        "secret_key": env.get("DOORSTEP_SECRET_KEY", base.secret_key),
        "jwt_keys": parse_key_ring(env["DOORSTEP_JWT_KEYS"])
        if "DOORSTEP_JWT_KEYS" in env
        else base.jwt_keys,
        "receipt_keys": parse_key_ring(env["DOORSTEP_RECEIPT_KEYS"], "DOORSTEP_RECEIPT_KEYS")
        if "DOORSTEP_RECEIPT_KEYS" in env
        else base.receipt_keys,
        "storage_backend": env.get("DOORSTEP_STORAGE", base.storage_backend),
        "storage_dir": Path(env.get("DOORSTEP_STORAGE_DIR", str(base.storage_dir))),
        "s3_bucket": env.get("DOORSTEP_S3_BUCKET", base.s3_bucket),
        "s3_endpoint_url": env.get("DOORSTEP_S3_ENDPOINT_URL", base.s3_endpoint_url),
        "s3_region": env.get("DOORSTEP_S3_REGION", base.s3_region),
        "trusted_proxies": int(env.get("DOORSTEP_TRUSTED_PROXIES", base.trusted_proxies)),
        "manifest_cache_entries": int(
            env.get("DOORSTEP_MANIFEST_CACHE_ENTRIES", base.manifest_cache_entries)
        ),
        "webhook_allow_loopback": env.get("DOORSTEP_WEBHOOK_ALLOW_LOOPBACK", "") == "1",
        "demo_password": env.get("DOORSTEP_DEMO_PASSWORD", base.demo_password),
        "secrets_dir": Path(env.get("DOORSTEP_SECRETS_DIR", str(base.secrets_dir))),
        "public_url": parse_public_url(env.get("DOORSTEP_PUBLIC_URL", base.public_url)),
        "smtp_url": env.get("DOORSTEP_SMTP_URL", base.smtp_url),
        "sms_url": env.get("DOORSTEP_SMS_URL", base.sms_url),
        "tracking_per_ip_per_minute": int(
            env.get("DOORSTEP_TRACKING_PER_IP_PER_MINUTE", base.tracking_per_ip_per_minute)
        ),
        "tracking_per_link_per_minute": int(
            env.get("DOORSTEP_TRACKING_PER_LINK_PER_MINUTE", base.tracking_per_link_per_minute)
        ),
        "travel_times": env.get("DOORSTEP_TRAVEL_TIMES", base.travel_times),
    }
    values.update(overrides)
    # Checked at start, so a mistyped URL stops the server and the worker at once
    # rather than failing every message later.
    if values["smtp_url"]:
        parse_smtp_url(str(values["smtp_url"]))
    if values["sms_url"]:
        parse_sms_url(str(values["sms_url"]))
    given = set(env) | set(overrides)
    wanted = {
        "DOORSTEP_SECRET_KEY": "secret_key",
        "DOORSTEP_JWT_KEYS": "jwt_keys",
        "DOORSTEP_RECEIPT_KEYS": "receipt_keys",
    }
    missing = [field for var, field in wanted.items() if var not in given and field not in given]
    if missing and values["env"] != "production":
        local = per_install_secrets(Path(str(values["secrets_dir"])))
        from_file: dict[str, object] = {
            "secret_key": local["secret_key"],
            "jwt_keys": ((PER_INSTALL_JWT_KID, local["jwt_key"]),),
            "receipt_keys": ((PER_INSTALL_RECEIPT_KID, local["receipt_seed"]),),
        }
        values.update({field: from_file[field] for field in missing})
    return Settings(**values)  # type: ignore[arg-type]
