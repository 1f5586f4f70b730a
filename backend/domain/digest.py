"""Tamper evidence: canonical JSON, proof digests, and signed receipts.

Canonical JSON (the bytes a digest is taken over): object keys sorted by code point,
no whitespace, UTF-8 without escaping non-ASCII, integers as integers, floats in
Python's shortest round-trip form (``repr``), and NaN or Infinity refused. The same
value always gives the same bytes, on the server, on a device and in the verifier.

A proof's digest is ``sha256(canonical_json({"v": 1, "fields": fields, "files":
sorted(file hashes)}))``. The server's receipt is an Ed25519 signature over the
canonical JSON of the receipt's own fields (digest, stop, events, issue time, key id),
so the receipt vouches for exactly that digest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backend.domain.clock import receipt_time

SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # always fullmatch: "$" passes a trailing "\n"
DIGEST_VERSION = 1
RECEIPT_ALG = "Ed25519"


class ReceiptInvalid(ValueError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_sha256_hex(text: Any) -> bool:
    return isinstance(text, str) and bool(SHA256_HEX.fullmatch(text))


def canonical_json(value: Any) -> bytes:
    """The one byte form of ``value`` that digests are computed over.

    ``json.dumps`` itself refuses NaN and Infinity (``allow_nan=False``) and any value
    that is not JSON (TypeError), so no separate walk over the value is needed.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def proof_digest(fields: Mapping[str, Any], file_hashes: Sequence[str]) -> str:
    for sha in file_hashes:
        if not is_sha256_hex(sha):
            raise ValueError(f"{sha!r} is not a lowercase hex SHA-256")
    document = {"v": DIGEST_VERSION, "fields": dict(fields), "files": sorted(file_hashes)}
    return sha256_hex(canonical_json(document))


def generate_signing_key() -> bytes:
    return secrets.token_bytes(32)


def public_key_from_seed(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Receipt:
    kid: str
    digest: str
    issued_at: str
    stop_id: int
    event_ids: tuple[str, ...]
    signature: str

    def signed_part(self) -> dict[str, Any]:
        return _signed_part(self.kid, self.digest, self.issued_at, self.stop_id, self.event_ids)

    def to_dict(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}


def _signed_part(
    kid: str, digest: str, issued_at: str, stop_id: int, event_ids: Sequence[str]
) -> dict[str, Any]:
    return {
        "alg": RECEIPT_ALG,
        "kid": kid,
        "digest": digest,
        "issued_at": issued_at,
        "stop_id": stop_id,
        "event_ids": list(event_ids),
    }


class ReceiptSigner:
    def __init__(self, seed: bytes, key_id: str) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.key_id = key_id

    def sign(
        self, digest: str, issued_at: datetime, stop_id: int, event_ids: Sequence[str]
    ) -> Receipt:
        if not is_sha256_hex(digest):
            raise ValueError("the digest is a lowercase hex SHA-256")
        when = receipt_time(issued_at)
        ids = tuple(sorted(event_ids))
        part = _signed_part(self.key_id, digest, when, stop_id, ids)
        signature = _b64url(self._key.sign(canonical_json(part)))
        return Receipt(self.key_id, digest, when, stop_id, ids, signature)


def verify_receipt(receipt: Mapping[str, Any], public_keys: Mapping[str, bytes]) -> None:
    """Raise ReceiptInvalid unless ``receipt`` was signed by one of ``public_keys``."""
    try:
        if receipt.get("alg") != RECEIPT_ALG:
            raise ReceiptInvalid(f"receipt algorithm {receipt.get('alg')!r} is not Ed25519")
        kid = receipt["kid"]
        if kid not in public_keys:
            raise ReceiptInvalid(f"receipt key {kid!r} is not a known key")
        part = _signed_part(
            kid, receipt["digest"], receipt["issued_at"], receipt["stop_id"], receipt["event_ids"]
        )
        signature = _unb64url(receipt["signature"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ReceiptInvalid):
            raise
        raise ReceiptInvalid(f"receipt is malformed: {exc}") from exc
    try:
        Ed25519PublicKey.from_public_bytes(public_keys[kid]).verify(signature, canonical_json(part))
    except (InvalidSignature, ValueError) as exc:
        raise ReceiptInvalid("receipt signature does not match its contents") from exc


def verify_bundle(
    bundle: Mapping[str, Any],
    public_keys: Mapping[str, bytes],
    file_bytes: Mapping[str, bytes] | None = None,
) -> list[str]:
    """Every problem found in an evidence bundle; an empty list means it verifies.

    Checks, in order: the digest recomputed from ``proof.fields`` and the proof's file
    hashes equals ``proof.digest``; the receipt is for that digest and its signature
    holds; no file of the proof is marked invalid (bytes that are not the image they
    were declared as); and, when ``file_bytes`` is given, each file hashes to its name.
    """
    problems: list[str] = []
    proof = bundle.get("proof")
    receipt = bundle.get("receipt")
    if not isinstance(proof, Mapping) or not isinstance(receipt, Mapping):
        return ["the bundle has no proof and receipt (is the stop delivered?)"]
    hashes = [f.get("sha256", "") for f in proof.get("files", []) if isinstance(f, Mapping)]
    try:
        recomputed = proof_digest(proof.get("fields", {}), hashes)
    except (TypeError, ValueError) as exc:
        problems.append(f"the proof cannot be digested: {exc}")
        recomputed = None
    if recomputed is not None and recomputed != proof.get("digest"):
        problems.append(
            "proof digest mismatch: the fields or file hashes were changed after sealing "
            f"(recomputed {recomputed}, bundle says {proof.get('digest')})"
        )
    if receipt.get("digest") != proof.get("digest"):
        problems.append("the receipt is for another digest than the proof's")
    try:
        verify_receipt(receipt, public_keys)
    except ReceiptInvalid as exc:
        problems.append(str(exc))
    for item in proof.get("files", []):
        if isinstance(item, Mapping) and item.get("invalid_reason"):
            problems.append(
                f"file {item.get('sha256')} ({item.get('kind')}) is not a valid "
                f"{item.get('content_type')} ({item.get('invalid_reason')}): it is kept as "
                "evidence but is no proof"
            )
    for sha in hashes:
        if file_bytes is None:
            break
        data = file_bytes.get(sha)
        if data is None:
            problems.append(f"file {sha} is missing")
        elif sha256_hex(data) != sha:
            problems.append(f"file {sha} does not hash to its name: its bytes were altered")
    return problems
