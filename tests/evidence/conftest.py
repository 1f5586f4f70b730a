"""A real S3-compatible server over HTTP (moto's standalone server) for the S3 path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.evidence.storage import S3Store


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    import uuid

    # moto accepts any credentials; boto3 only needs some to sign with.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    store = S3Store(bucket, s3_endpoint, "us-east-1")
    store.client.create_bucket(Bucket=bucket)
    return store
