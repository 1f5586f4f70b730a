"""The ``doorstep`` command: migrate, serve, verify evidence bundles, run the back-office jobs.

The demo's commands (seeding it, simulating a day) are not here: they live in the
checkout's ``demo`` package (``python -m demo``), which is not shipped.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

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
    from backend.domain.digest import sha256_hex, verify_bundle

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
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except ConfigError as exc:
        print(f"doorstep: {exc}", file=sys.stderr)
        return 2
    except Refusal as exc:
        # The same refusal the API answers with a status; here, a message and exit 1.
        print(f"doorstep: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
