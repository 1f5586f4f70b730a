"""The two evidence stores: a local folder and S3 over HTTP."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from backend.evidence.storage import (
    LocalStore,
    S3Store,
    StoreError,
    StoreUnavailable,
    UploadOffsetMismatch,
    object_key,
)

DATA = b"\x89PNG\r\n\x1a\n" + b"signature-bytes" * 100
SHA = hashlib.sha256(DATA).hexdigest()
# When a partial upload was last written, as the server's clock told it.
NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


class _CutStream(io.RawIOBase):
    """A body whose connection drops after ``limit`` bytes."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.data, self.limit, self.pos = data, limit, 0

    def read(self, size: int = -1) -> bytes:
        if self.pos >= self.limit:
            raise ConnectionResetError("client went away")
        chunk = self.data[self.pos : min(self.pos + (size if size > 0 else 1 << 20), self.limit)]
        self.pos += len(chunk)
        return chunk


def test_keys_are_content_addressed_per_tenant() -> None:
    assert object_key(7, SHA) == f"org/7/sha256/{SHA}"


@pytest.mark.parametrize("name", ["../../etc/passwd", SHA.upper(), SHA[:-1], "a" * 65])
def test_anything_but_a_lowercase_sha256_is_refused_as_a_key(name: str) -> None:
    with pytest.raises(StoreError):
        object_key(7, name)


def test_local_store_keeps_matching_bytes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.receive(1, SHA, io.BytesIO(DATA), len(DATA))
    assert store.exists(1, SHA)
    assert store.verify(1, SHA, len(DATA))
    assert b"".join(store.open(1, SHA)) == DATA


def test_local_store_refuses_bytes_with_another_hash(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    tampered = DATA[:-1] + b"X"
    with pytest.raises(StoreError) as caught:
        store.receive(1, SHA, io.BytesIO(tampered), len(tampered))
    assert caught.value.code == "hash_mismatch"
    assert not store.exists(1, SHA)
    # Nothing is kept: the next attempt starts over.
    assert [p for p in (tmp_path / "org/1").rglob("*") if p.is_file()] == []


def test_local_store_refuses_a_body_longer_than_declared(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(StoreError) as caught:
        store.receive(1, SHA, io.BytesIO(DATA + b"more"), len(DATA))
    assert caught.value.code == "size_mismatch"


def test_a_cut_connection_publishes_nothing_and_keeps_the_bytes_for_a_resume(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path)
    half = len(DATA) // 2
    with pytest.raises(ConnectionResetError):
        store.receive(1, SHA, _CutStream(DATA, half), len(DATA))  # type: ignore[arg-type]
    assert not store.exists(1, SHA)
    assert not (tmp_path / "org/1/sha256").exists()
    assert store.partial_offset(1, SHA) == half
    assert not store.verify(1, SHA, len(DATA))


def test_an_upload_resumes_from_the_bytes_held(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cut = len(DATA) * 8 // 10
    with pytest.raises(ConnectionResetError):
        store.receive(1, SHA, _CutStream(DATA, cut), len(DATA))  # type: ignore[arg-type]
    held = store.partial_offset(1, SHA)
    rest = DATA[held:]
    assert store.receive_range(1, SHA, len(DATA), held, len(rest), io.BytesIO(rest), NOW)
    assert store.verify(1, SHA, len(DATA))
    assert store.partial_offset(1, SHA) == 0
    assert list((tmp_path / "org/1/partial").iterdir()) == []


def test_a_range_in_the_middle_is_kept_and_answered_incomplete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = DATA[:100]
    assert not store.receive_range(1, SHA, len(DATA), 0, 100, io.BytesIO(first), NOW)
    assert store.partial_offset(1, SHA) == 100
    # Re-sending bytes the server already has overwrites them with the same bytes.
    again = DATA[50:]
    assert store.receive_range(1, SHA, len(DATA), 50, len(again), io.BytesIO(again), NOW)
    assert store.verify(1, SHA, len(DATA))


def test_a_range_starting_past_the_bytes_held_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.receive_range(1, SHA, len(DATA), 0, 100, io.BytesIO(DATA[:100]), NOW)
    with pytest.raises(UploadOffsetMismatch) as caught:
        store.receive_range(1, SHA, len(DATA), 200, 10, io.BytesIO(DATA[200:210]), NOW)
    assert (caught.value.code, caught.value.offset) == ("upload_offset_mismatch", 100)
    assert store.partial_offset(1, SHA) == 100


def test_a_resumed_upload_that_does_not_hash_starts_over(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.receive_range(1, SHA, len(DATA), 0, 100, io.BytesIO(b"x" * 100), NOW)
    rest = DATA[100:]
    with pytest.raises(StoreError) as caught:
        store.receive_range(1, SHA, len(DATA), 100, len(rest), io.BytesIO(rest), NOW)
    assert caught.value.code == "hash_mismatch"
    assert (store.partial_offset(1, SHA), store.exists(1, SHA)) == (0, False)


def test_partials_untouched_for_a_day_are_removed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    other = hashlib.sha256(b"other").hexdigest()
    store.receive_range(1, SHA, len(DATA), 0, 10, io.BytesIO(DATA[:10]), NOW)
    store.receive_range(2, other, 5, 0, 2, io.BytesIO(b"ot"), NOW + timedelta(hours=2))
    removed = store.remove_stale_partials(untouched_since=NOW + timedelta(hours=1))
    assert removed == [tmp_path / "org/1/partial" / SHA]
    assert (store.partial_offset(1, SHA), store.partial_offset(2, other)) == (0, 2)


def test_tenants_do_not_share_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.receive(1, SHA, io.BytesIO(DATA), len(DATA))
    assert not store.exists(2, SHA)


def _post_upload(store: S3Store, data: bytes, content_type: str = "image/png") -> int:
    target = store.upload_target(1, SHA, "image/png", len(DATA), "http://unused")
    response = requests.post(
        target.url,
        data=target.fields,
        files={"file": ("blob", data, content_type)},
        timeout=10,
    )
    return response.status_code


def test_s3_presigned_upload_then_server_side_verification(s3_store: S3Store) -> None:
    assert not s3_store.exists(1, SHA)
    assert _post_upload(s3_store, DATA) in (200, 201, 204)
    assert s3_store.exists(1, SHA)
    assert s3_store.verify(1, SHA, len(DATA))
    assert b"".join(s3_store.open(1, SHA)) == DATA


def test_s3_upload_target_limits_size_type_and_time(s3_store: S3Store) -> None:
    import base64
    import json

    target = s3_store.upload_target(1, SHA, "image/png", len(DATA), "http://unused")
    policy = json.loads(base64.b64decode(target.fields["policy"]))
    assert ["content-length-range", len(DATA), len(DATA)] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert target.expires_at is not None
    assert target.method == "POST"


def test_s3_object_with_wrong_bytes_does_not_verify(s3_store: S3Store) -> None:
    # Other bytes under the file's key, written past the upload policy (as an operator could).
    s3_store.client.put_object(
        Bucket=s3_store.bucket,
        Key=object_key(1, SHA),
        Body=DATA[:-1] + b"X",
        ContentType="image/png",
    )
    assert s3_store.exists(1, SHA)
    assert not s3_store.verify(1, SHA, len(DATA))


def test_s3_missing_object_does_not_verify(s3_store: S3Store) -> None:
    assert not s3_store.verify(1, SHA, len(DATA))


def test_unreachable_s3_is_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = S3Store("nowhere", f"http://127.0.0.1:{port}", "us-east-1")
    with pytest.raises(StoreUnavailable):
        store.exists(1, SHA)


def test_temporary_files_of_earlier_uploads_are_removed_too(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.receive(1, SHA, io.BytesIO(DATA), len(DATA))
    leftover = tmp_path / "org/1/sha256/.upload-k1ll3d"
    leftover.write_bytes(b"half a photo")
    os.utime(leftover, (NOW.timestamp(), NOW.timestamp()))
    assert store.remove_stale_partials(untouched_since=NOW + timedelta(days=1)) == [leftover]
    assert store.verify(1, SHA, len(DATA))
