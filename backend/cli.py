"""The ``doorstep`` command: migrate, serve, verify evidence bundles, run the back-office jobs.

The demo's commands (seeding it, simulating a day) are not here: they live in the
checkout's ``demo`` package (``python -m demo``), which is not shipped.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session

from backend.config import PROJECT_ROOT, ConfigError, Settings, load_settings
from backend.db.session import Database
from backend.domain.refusal import Refusal


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest migration (the only way it is ever created)."""
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["url"] = settings.database_url
    command.upgrade(config, "head")


def _cmd_serve(args: argparse.Namespace) -> int:
    """Become gunicorn, with the one command line every server here runs."""
    from backend.serving import gunicorn_command

    extra = ("--access-logfile", "-") if args.access_log else ()
    command = gunicorn_command(args.bind, args.workers, *extra, app=args.app)
    # exec, not a child: signals (Ctrl-C, a supervisor's SIGTERM) reach gunicorn itself.
    os.execv(command[0], command)  # noqa: S606 - our own gunicorn, arguments from the caller


def _cmd_migrate(_args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.check_safe_for_production()
    migrate(settings)
    return 0


def _load_public_keys(path: str | None, bundle: dict[str, Any]) -> tuple[dict[str, bytes], bool]:
    """Keys from ``--keys`` (pinned), else from the bundle itself (not pinned)."""
    if path:
        raw = json.loads(Path(path).read_text())
        keys = raw.get("keys", raw)
        return {kid: base64.b64decode(key) for kid, key in keys.items()}, True
    embedded = bundle.get("public_keys") or {}
    return {kid: base64.b64decode(key) for kid, key in embedded.items()}, False


def _load_pdf_certificates(path: str | None) -> list[str] | None:
    """The published PDF signing certificates from ``--keys``; None when not pinned."""
    if not path:
        return None
    raw = json.loads(Path(path).read_text())
    certificates = raw.get("pdf_certificates") if isinstance(raw, dict) else None
    if not isinstance(certificates, dict):
        # An old keys file: better to say so than to trust whatever signed the PDF.
        return []
    return [str(pem) for pem in certificates.values()]


def _read_verifiable(
    path: str, pdf_certificates: list[str] | None = None
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The bundle (or a PDF's embedded proof) to verify, problems found on the way, and
    what was found out about the PDF's own signature (lines to print).

    Raises ValueError with the reason when there is nothing to verify.
    """
    from backend.proofs.document import (
        EMBEDDED_PROOF_NAME,
        is_pdf,
        read_embedded_proof,
        read_printed_digest,
    )
    from backend.proofs.pdfsign import PdfSignatureError, verify_pdf_signature

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    # Sniffed rather than taken from the name: customers rename downloads.
    if not is_pdf(data):
        try:
            bundle = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"{path} is neither a PDF nor a JSON bundle: {exc}") from exc
        if not isinstance(bundle, dict):
            raise ValueError(f"{path} is neither a PDF nor a JSON bundle")
        return bundle, [], []
    record = read_embedded_proof(data)  # ProofDocumentError is a ValueError
    if record is None:
        raise ValueError(f"the PDF carries no {EMBEDDED_PROOF_NAME} attachment")
    problems: list[str] = []
    notes: list[str] = []
    # The embedded proof covers the delivery, not the page around it: the page is what
    # a person reads, so the whole file must be exactly what the server signed.
    try:
        signature = verify_pdf_signature(data, pdf_certificates)
    except PdfSignatureError as exc:
        problems.append(str(exc))
    else:
        when = f" at {signature.signed_at:%Y-%m-%d %H:%M:%S %Z}" if signature.signed_at else ""
        notes.append(f"PDF signed (PAdES) by {signature.signer}{when}; covers the whole file")
        if not signature.pinned:
            notes.append(
                "note: the PDF's certificate came from the PDF itself; pass --keys to pin it"
            )
    # The attachment is what gets verified, but the page is what a person reads: a page
    # doctored to show another proof must not pass on the strength of its attachment.
    printed = read_printed_digest(data)
    proof = record.get("proof")
    embedded = proof.get("digest") if isinstance(proof, dict) else None
    if printed is None:
        problems.append("the page shows no digest to compare with the embedded proof")
    elif printed != embedded:
        problems.append("the digest printed on the page differs from the embedded proof")
    return record, problems, notes


def _cmd_verify(args: argparse.Namespace) -> int:
    from backend.domain.digest import sealed_stamps_line, sha256_hex, verify_bundle

    try:
        pdf_certificates = _load_pdf_certificates(args.keys)
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        print(f"FAIL: cannot read the public keys: {exc}")
        return 1
    try:
        bundle, document_problems, document_notes = _read_verifiable(args.bundle, pdf_certificates)
    except ValueError as exc:
        print(f"FAIL: {exc}")
        return 1
    try:
        keys, pinned = _load_public_keys(args.keys, bundle)
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        print(f"FAIL: cannot read the public keys: {exc}")
        return 1
    file_bytes = None
    if args.files:
        file_bytes = {}
        for path in Path(args.files).iterdir():
            if path.is_file():
                data = path.read_bytes()
                file_bytes[path.name if len(path.name) == 64 else sha256_hex(data)] = data
    problems = document_problems + verify_bundle(bundle, keys, file_bytes)
    if problems:
        for problem in problems:
            print(f"FAIL: {problem}")
        return 1
    proof = bundle["proof"]
    print(f"OK: proof {proof['digest']} verifies")
    print(f"    receipt signed by {bundle['receipt']['kid']} at {bundle['receipt']['issued_at']}")
    print(f"    {sealed_stamps_line(proof['fields'])}")
    if file_bytes is not None:
        print(f"    {len(proof['files'])} file(s) match their hashes")
    for note in document_notes:
        print(f"    {note}")
    if not pinned:
        print("    note: the key came from the bundle itself; pass --keys to pin the server's keys")
    return 0


def _cmd_webhooks(args: argparse.Namespace) -> int:
    """Deliver due webhooks: once, or every few seconds until stopped."""
    import time

    from backend.webhooks.service import deliver_due

    settings = load_settings()
    settings.check_safe_for_production()
    database = Database(settings.database_url)
    try:
        while True:
            with database.session() as session:
                counts = deliver_due(session, settings.webhook_allow_loopback)
            if any(counts.values()):
                print(f"webhooks: {counts}", flush=True)
            if args.once:
                return 0
            time.sleep(args.every)
    finally:
        database.dispose()


def _cmd_notify(args: argparse.Namespace) -> int:
    """Send due recipient messages: once, or every few seconds until stopped."""
    import time

    from backend.notifications.transports import from_settings
    from backend.notifications.worker import send_due

    settings = load_settings()
    settings.check_safe_for_production()
    transports = from_settings(settings.smtp_url, settings.sms_url)
    database = Database(settings.database_url)
    try:
        while True:
            with database.session() as session:
                counts = send_due(
                    session, transports, settings.secret_key, settings.public_url, args.batch
                )
            if any(counts.values()):
                print(f"notify: {counts}", flush=True)
            if args.once:
                return 0
            time.sleep(args.every)
    finally:
        database.dispose()


def _cmd_retention(args: argparse.Namespace) -> int:
    """Delete evidence bytes of stops before a cut-off, except under legal hold."""
    from backend import clock
    from backend.evidence.retention import purge_before, remove_abandoned_uploads
    from backend.evidence.service import build_store

    settings = load_settings()
    settings.check_safe_for_production()
    store = build_store(settings)
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            report = purge_before(session, store, args.before, args.dry_run)
    finally:
        database.dispose()
    verb = "would purge" if args.dry_run else "purged"
    print(
        f"{verb} {len(report.purged)} file(s); kept {len(report.kept_on_legal_hold)} on "
        f"legal hold and {len(report.kept_recent)} cited by newer stops"
    )
    if not args.dry_run:
        abandoned = remove_abandoned_uploads(store, clock.now())
        print(f"removed {len(abandoned)} abandoned partial upload(s)")
    return 0


def _cmd_grant(args: argparse.Namespace) -> int:
    """Give a user a permission on top of their role, or take it back."""
    from backend.auth.service import set_grant
    from backend.domain.roles import Grant

    settings = load_settings()
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            user = set_grant(session, args.username, Grant(args.grant), held=not args.revoke)
            state = ", ".join(user.grants) or "none"
            print(f"{user.username} ({user.role.value}) now holds: {state}")
    finally:
        database.dispose()
    print("  (takes effect at the user's next login or token refresh)")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """The password piped in with ``--password-stdin`` (its first line), else None."""
    if not args.password_stdin:
        return None
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    if not password:
        raise Refusal("validation_error", "--password-stdin read no password", field="password")
    return password


def _print_one_time_password(username: str, password: str | None) -> None:
    if password is not None:
        print(f"  one-time password for {username}: {password}")
        print("  (shown once; it must be changed at the first sign-in)")
    else:
        print(f"  {username} signs in with the password given; it must be changed then")


def _cmd_org_create(args: argparse.Namespace) -> int:
    from backend.admin.organizations import create_organization

    password = _read_password(args)
    with _session() as session:
        created = create_organization(
            session,
            name=args.name,
            timezone=args.timezone,
            admin_username=args.admin,
            admin_password=password,
        )
        org = created.organization
        print(f"created organization {org.slug} ({org.name}, {org.timezone})")
        print(f"  admin: {created.admin.user.username}")
        _print_one_time_password(created.admin.user.username, created.admin.one_time_password)
    return 0


def _cmd_org_list(_args: argparse.Namespace) -> int:
    from backend.admin.organizations import list_organizations

    with _session() as session:
        summaries = list_organizations(session)
        print(f"{'slug':<24} {'time zone':<22} {'users':>5}  admins  name")
        for summary in summaries:
            org = summary.organization
            admins = ",".join(summary.admins) or "-"
            print(
                f"{org.slug:<24} {org.timezone:<22} {summary.active_users:>5}  {admins}  {org.name}"
            )
    return 0


def _cmd_user_add(args: argparse.Namespace) -> int:
    from backend.admin import people

    password = _read_password(args)
    with _session() as session:
        created = people.add_user(
            session,
            people.OPERATOR,
            args.org,
            username=args.username,
            role=args.role,
            full_name=args.name or "",
            password=password,
        )
        print(f"added {created.user.username} ({created.user.role.value}) to {args.org}")
        _print_one_time_password(created.user.username, created.one_time_password)
    return 0


def _cmd_user_deactivate(args: argparse.Namespace) -> int:
    from backend.admin import people

    with _session() as session:
        user = people.set_active(session, people.OPERATOR, args.username, active=False)
        # Already deactivated is no error: the operator wanted exactly this state.
        print(f"{user.username} is deactivated: no session or token of theirs works")
    return 0


def _cmd_user_reset_password(args: argparse.Namespace) -> int:
    from backend.admin import people

    password = _read_password(args)
    with _session() as session:
        reset = people.reset_password(session, people.OPERATOR, args.username, password)
        print(f"reset the password of {reset.user.username}; every session and token has ended")
        _print_one_time_password(reset.user.username, reset.one_time_password)
    return 0


@contextlib.contextmanager
def _session() -> Iterator[Session]:
    settings = load_settings()
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            yield session
    finally:
        database.dispose()


def _add_people_commands(commands: Any) -> None:
    from backend.domain.roles import Role

    org = commands.add_parser("org", help="create and list organizations (tenants)")
    org_commands = org.add_subparsers(dest="org_command", required=True)
    create = org_commands.add_parser("create", help="a new organization and its first admin")
    create.add_argument("name", help='the organization\'s name, e.g. "Acme Deliveries"')
    create.add_argument("--timezone", required=True, help="IANA time zone, e.g. Europe/Paris")
    create.add_argument("--admin", required=True, metavar="USERNAME", help="its first admin")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the admin's first password from standard input instead of making one",
    )
    create.set_defaults(run=_cmd_org_create)
    org_commands.add_parser("list", help="every organization").set_defaults(run=_cmd_org_list)

    user = commands.add_parser("user", help="add, deactivate or reset a user (recovery)")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a user to an organization")
    add.add_argument("org", help="the organization's slug (doorstep org list)")
    add.add_argument("username")
    add.add_argument("--role", required=True, help=", ".join(r.value for r in Role))
    add.add_argument("--name", help="the person's full name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(run=_cmd_user_add)
    deactivate = user_commands.add_parser("deactivate", help="end a user's access at once")
    deactivate.add_argument("username")
    deactivate.set_defaults(run=_cmd_user_deactivate)
    reset = user_commands.add_parser(
        "reset-password", help="a new password, to be changed at next sign-in"
    )
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset.set_defaults(run=_cmd_user_reset_password)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="doorstep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply migrations").set_defaults(run=_cmd_migrate)
    serve = commands.add_parser(
        "serve",
        help="run gunicorn with backend/gunicorn_conf.py (the serving model of docs/operations.md)",
    )
    serve.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT")
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--app", help="gunicorn app spec (default: the shipped app)")
    serve.add_argument("--access-log", action="store_true", help="log requests to stdout")
    serve.set_defaults(run=_cmd_serve)
    verify = commands.add_parser(
        "verify", help="check a downloaded evidence bundle or proof PDF offline"
    )
    verify.add_argument(
        "bundle",
        help="the JSON from GET /api/v1/stops/<id>/proof, or the PDF from .../proof.pdf",
    )
    verify.add_argument("--files", help="a folder with the evidence files (any names)")
    verify.add_argument(
        "--keys",
        help="JSON from GET /api/v1/receipt-keys, to pin the receipt keys and PDF certificates",
    )
    verify.set_defaults(run=_cmd_verify)
    hooks = commands.add_parser("webhooks", help="deliver queued webhooks (retries persist)")
    hooks.add_argument("--once", action="store_true", help="one pass, then exit")
    hooks.add_argument("--every", type=float, default=5.0, help="seconds between passes")
    hooks.set_defaults(run=_cmd_webhooks)
    notify = commands.add_parser(
        "notify", help="send queued recipient e-mails and SMS (at most once each)"
    )
    notify.add_argument("--once", action="store_true", help="one pass, then exit")
    notify.add_argument("--every", type=float, default=5.0, help="seconds between passes")
    notify.add_argument("--batch", type=int, default=50, help="messages claimed per pass")
    notify.set_defaults(run=_cmd_notify)
    retention = commands.add_parser("retention", help="purge old evidence, honouring legal hold")
    retention.add_argument(
        "--before",
        type=date.fromisoformat,
        help="one service date cut-off, YYYY-MM-DD, for every organization "
        "(default: each organization's evidence retention setting)",
    )
    retention.add_argument("--dry-run", action="store_true")
    retention.set_defaults(run=_cmd_retention)
    from backend.domain.roles import Grant

    grant = commands.add_parser("grant", help="give a user a permission beyond their role")
    grant.add_argument("username")
    grant.add_argument("grant", choices=[g.value for g in Grant])
    grant.add_argument("--revoke", action="store_true", help="take the grant back")
    grant.set_defaults(run=_cmd_grant)
    _add_people_commands(commands)
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except ConfigError as exc:
        print(f"doorstep: {exc}", file=sys.stderr)
        return 2
    except Refusal as exc:
        # The same refusal the API answers with a status; here, a message and exit 1.
        where = f" [{exc.field}]" if exc.field else ""
        print(f"doorstep: {exc.message} ({exc.code}){where}", file=sys.stderr)
        for field, messages in (exc.errors or {}).items():
            if not isinstance(messages, list) or exc.message in (
                messages[0],
                f"{field}: {messages[0]}",
            ):
                continue
            for message in messages:
                print(f"  {field}: {message}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
