"""Fixtures of the runtime's tests."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

BUCKET = "models"


@pytest.fixture
def s3(monkeypatch):
    """An in-process S3 (moto) with the bucket ``models``; yields its client."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
