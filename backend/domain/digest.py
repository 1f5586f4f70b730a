"""Tamper evidence: canonical JSON, proof digests, and signed receipts.

Canonical JSON (the bytes a digest is taken over): object keys sorted by code point,
no whitespace, UTF-8 without escaping non-ASCII, integers as integers, floats in
Python's shortest round-trip form (``repr``), and NaN or Infinity refused. The same
value always gives the same bytes, on the server, on a device and in the verifier.

A proof's digest is ``sha256(canonical_json({"v": V, "fields": fields, "files":
sorted(file hashes)}))``, where V is the proof's digest version. The server's receipt
is an Ed25519 signature over the canonical JSON of the receipt's own fields (digest,
stop, events, issue time, key id), so the receipt vouches for exactly that digest.

Digest versions (a verifier knows every one; the server seals with the newest):

- 1: the fields carry no ``digest_version``; the photos' capture stamps were kept
  beside the proof, not in it. Proofs sealed before version 2 verify by this rule.
- 2: the fields carry ``"digest_version": 2`` and ``photos``, each photo's stamp as
  the device sent it (``{sha256, taken_at, geo}``; the files themselves hold no EXIF),
  so a changed capture time or place breaks the seal. The version sits inside the
  digested fields: removing it to pass a proof off as version 1 changes the digest.
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
DIGEST_VERSION = 2  # the one the server seals with now
DIGEST_VERSIONS = frozenset({1, 2})
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


def sealed_photo_stamps(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The proof fields that bring a delivery's photo stamps under the seal (version 2).

    A delivery recorded by an app that stamped no photos seals an empty list: the proof
    then says, under its seal, that no capture time or place was recorded.
    """
    stamps = [
        {"sha256": photo["sha256"], "taken_at": photo["taken_at"], "geo": photo["geo"]}
        for photo in payload.get("photos") or ()
    ]
    return {"digest_version": DIGEST_VERSION, "photos": stamps}


def digest_version(fields: Mapping[str, Any]) -> int:
    """The rule a proof was sealed under; fields without a version predate versions."""
    version = fields.get("digest_version", 1)
    # bool is an int to Python, and True would otherwise pass for version 1.
    if isinstance(version, bool) or version not in DIGEST_VERSIONS:
        raise ValueError(f"digest version {version!r} is not one this verifier knows")
    return int(version)


def sealed_stamps_line(fields: Mapping[str, Any]) -> str:
    """What a verified proof's seal says about its photos' capture stamps, in words."""
    if digest_version(fields) == 1:
        return "digest version 1: sealed before photo stamps were covered (none are sealed)"
    stamps = fields["photos"]
    return f"digest version {digest_version(fields)}: {len(stamps)} photo stamp(s) sealed" + (
        "".join(
            f"\n      photo {stamp['sha256'][:12]}... taken {stamp['taken_at']}"
            + (
                f" at {stamp['geo']['lat']}, {stamp['geo']['lon']}"
                f" (within {stamp['geo']['accuracy_m']} m)"
                if stamp["geo"]
                else ", no position"
            )
            for stamp in stamps
        )
    )


def proof_digest(fields: Mapping[str, Any], file_hashes: Sequence[str]) -> str:
    for sha in file_hashes:
        if not is_sha256_hex(sha):
            raise ValueError(f"{sha!r} is not a lowercase hex SHA-256")
    version = digest_version(fields)
    if version >= 2:
        _check_photo_stamps(fields.get("photos"), file_hashes)
    document = {"v": version, "fields": dict(fields), "files": sorted(file_hashes)}
    return sha256_hex(canonical_json(document))


def _check_photo_stamps(stamps: Any, file_hashes: Sequence[str]) -> None:
    """A version 2 proof stamps only its own files: a stamp for a file the proof does
    not hold vouches for nothing."""
    if not isinstance(stamps, list):
        raise ValueError("a version 2 proof lists its photo stamps (photos)")
    for stamp in stamps:
        if not isinstance(stamp, Mapping) or set(stamp) != {"sha256", "taken_at", "geo"}:
            raise ValueError("each photo stamp is {sha256, taken_at, geo}")
        if stamp["sha256"] not in file_hashes:
            raise ValueError(f"photo stamp {stamp['sha256']!r} is for a file not in the proof")


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
