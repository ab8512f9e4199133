"""Requests signed by botocore's own signer, as they then travel on the wire."""

from __future__ import annotations

import datetime
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serverless_ray.auth.sigv4 import IncomingRequest

KEY_ID = "AKIATESTPRINCIPAL001"
SECRET = "test-secret-key-0123456789abcdefghij"
SIGNED_AT = datetime.datetime(2024, 5, 17, 12, 30, 0)
SIGNED_AT_EPOCH = SIGNED_AT.replace(tzinfo=datetime.timezone.utc).timestamp()


def sign(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
         key_id: str = KEY_ID, secret: str = SECRET, service: str = "sagemaker", region: str = "us-east-1",
         at: datetime.datetime = SIGNED_AT) -> IncomingRequest:
    """``method url`` with ``headers`` and ``body`` signed by botocore at ``at`` (naive UTC),
    as the server receives it: the path and query as sent, a Host header added by the
    HTTP client."""
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    parts = urlsplit(url)
    sent = [(name, value) for name, value in request.headers.items()]
    if "host" not in {name.lower() for name, _ in sent}:
        sent.insert(0, ("Host", parts.netloc))
    return IncomingRequest(method, parts.path or "/", parts.query, sent, body)
