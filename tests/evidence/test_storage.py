"""The two evidence stores: a local folder and S3 over HTTP."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import requests

from backend.evidence.storage import LocalStore, S3Store, StoreError, StoreUnavailable, object_key

DATA = b"\x89PNG\r\n\x1a\n" + b"signature-bytes" * 100
SHA = hashlib.sha256(DATA).hexdigest()


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
    assert list((tmp_path / "org/1/sha256").iterdir()) == []


def test_local_store_refuses_a_body_longer_than_declared(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(StoreError) as caught:
        store.receive(1, SHA, io.BytesIO(DATA + b"more"), len(DATA))
    assert caught.value.code == "size_mismatch"


def test_a_cut_connection_leaves_nothing_behind(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(ConnectionResetError):
        store.receive(1, SHA, _CutStream(DATA, len(DATA) // 2), len(DATA))  # type: ignore[arg-type]
    assert not store.exists(1, SHA)
    assert list((tmp_path / "org/1/sha256").iterdir()) == []


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
    s3_store.put_bytes(1, SHA, DATA[:-1] + b"X", "image/png")
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
