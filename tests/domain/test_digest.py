from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from backend.domain.digest import (
    ReceiptInvalid,
    ReceiptSigner,
    canonical_json,
    generate_signing_key,
    proof_digest,
    public_key_from_seed,
    sealed_photo_stamps,
    sha256_hex,
    verify_bundle,
    verify_receipt,
)

SEED = bytes(range(32))
FILES = ["a" * 64, "b" * 64]


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é", None]}) == '{"a":[1.5,"é",null],"b":1}'.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, {"x": -math.inf}])
def test_canonical_json_refuses_non_finite_numbers(value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        canonical_json(value)


def test_canonical_json_refuses_non_json_types() -> None:
    with pytest.raises(TypeError):
        canonical_json({"when": datetime.now(UTC)})


def test_the_digest_ignores_file_order_but_not_file_content() -> None:
    fields = {"recipient_name": "Dana"}
    assert proof_digest(fields, FILES) == proof_digest(fields, list(reversed(FILES)))
    assert proof_digest(fields, FILES) != proof_digest(fields, ["a" * 64, "c" * 64])
    assert proof_digest(fields, FILES) != proof_digest({"recipient_name": "Dan"}, FILES)


def test_a_receipt_verifies_with_the_signers_public_key() -> None:
    receipt = ReceiptSigner(SEED, "k1").sign(
        "d" * 64, datetime(2026, 11, 24, tzinfo=UTC), 7, ["e1"]
    )
    verify_receipt(receipt.to_dict(), {"k1": public_key_from_seed(SEED)})


def test_a_receipt_does_not_verify_with_another_key() -> None:
    receipt = ReceiptSigner(SEED, "k1").sign(
        "d" * 64, datetime(2026, 11, 24, tzinfo=UTC), 7, ["e1"]
    )
    with pytest.raises(ReceiptInvalid, match="signature"):
        verify_receipt(receipt.to_dict(), {"k1": public_key_from_seed(generate_signing_key())})


def test_a_receipt_from_an_unknown_key_is_refused() -> None:
    receipt = ReceiptSigner(SEED, "k1").sign(
        "d" * 64, datetime(2026, 11, 24, tzinfo=UTC), 7, ["e1"]
    )
    with pytest.raises(ReceiptInvalid, match="not a known key"):
        verify_receipt(receipt.to_dict(), {"k2": public_key_from_seed(SEED)})


def _bundle() -> dict[str, object]:
    fields = {"recipient_name": "Dana", "geo": {"lat": 47.6, "lon": -122.3}}
    digest = proof_digest(fields, FILES)
    receipt = ReceiptSigner(SEED, "k1").sign(digest, datetime(2026, 11, 24, tzinfo=UTC), 7, ["e1"])
    return {
        "proof": {"fields": fields, "files": [{"sha256": h} for h in FILES], "digest": digest},
        "receipt": receipt.to_dict(),
    }


def test_an_intact_bundle_has_no_problems() -> None:
    assert verify_bundle(_bundle(), {"k1": public_key_from_seed(SEED)}) == []


def test_each_kind_of_tampering_is_named() -> None:
    keys = {"k1": public_key_from_seed(SEED)}
    bundle = _bundle()
    bundle["proof"]["fields"]["recipient_name"] = "Mallory"  # type: ignore[index]
    assert any("digest mismatch" in p for p in verify_bundle(bundle, keys))
    bundle = _bundle()
    bundle["receipt"]["stop_id"] = 8  # type: ignore[index]
    assert any("signature" in p for p in verify_bundle(bundle, keys))


def test_file_bytes_are_checked_against_their_names() -> None:
    bundle = _bundle()
    problems = verify_bundle(bundle, {"k1": public_key_from_seed(SEED)}, {FILES[0]: b"x"})
    assert f"file {FILES[0]} does not hash to its name: its bytes were altered" in problems
    assert f"file {FILES[1]} is missing" in problems


def test_version_1_is_the_rule_proofs_were_sealed_with_before_versions() -> None:
    # Written out, not computed by the code under test: the bytes a version 1 digest
    # was taken over must never change, or every older receipt stops verifying.
    fields = {"recipient_name": "Dana"}
    old = sha256_hex(
        b'{"fields":{"recipient_name":"Dana"},"files":["'
        + FILES[0].encode()
        + b'","'
        + FILES[1].encode()
        + b'"],"v":1}'
    )
    assert proof_digest(fields, list(reversed(FILES))) == old


def test_version_2_seals_the_photo_stamps_under_the_version_it_names() -> None:
    payload = {
        "photos": [{"sha256": FILES[1], "taken_at": "2026-11-24T17:00:00+00:00", "geo": None}]
    }
    fields = {"recipient_name": "Dana", **sealed_photo_stamps(payload)}
    assert fields["digest_version"] == 2
    document = {"v": 2, "fields": fields, "files": FILES}
    assert proof_digest(fields, FILES) == sha256_hex(canonical_json(document))
    moved = {**fields, "photos": [{**fields["photos"][0], "taken_at": "2026-11-24T16:00:00+00:00"}]}
    assert proof_digest(moved, FILES) != proof_digest(fields, FILES)
    with pytest.raises(ValueError, match="not in the proof"):
        proof_digest(fields, [FILES[0]])
    with pytest.raises(ValueError, match="version True"):
        proof_digest({**fields, "digest_version": True}, FILES)
