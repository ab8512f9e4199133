"""Helpers for building model data in tests."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

import pytest


def write_model_dir(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path → content) under ``root``; dedents str content."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(textwrap.dedent(content))
        else:
            path.write_bytes(content)
    return root


def build_tarball(path: Path, files: dict[str, str | bytes]) -> Path:
    """Create a gzip tarball at ``path`` holding ``files`` at its root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for rel, content in files.items():
            data = textwrap.dedent(content).encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def add_raw_member(path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    """Create a tarball holding one hand-crafted member (for unsafe-path tests)."""
    with tarfile.open(path, "w:gz") as tar:
        info.size = len(data) if info.isfile() else 0
        tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


@pytest.fixture
def s3(monkeypatch):
    """An in-process S3 (moto) with the bucket ``models``; yields its client. A fixture:
    test modules import it."""
    import boto3
    from moto import mock_aws

    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="models")
        yield client
