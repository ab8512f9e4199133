"""A client of the platform's own operations (``X-Amz-Target: ServerlessRay.*``) and its
``/metrics``, over HTTP like every other client: used by the command line and the
benchmark. Requests are signed with SigV4 as boto3 signs the SageMaker ones, with the
same keys (a :class:`~serverless_ray.declarative.clients.PlatformAccess`, or boto3's
standard credential chain), and HTTPS is verified as boto3 verifies it (``AWS_CA_BUNDLE``)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from serverless_ray.spec.services import SERVERLESS_RAY

if TYPE_CHECKING:
    from serverless_ray.declarative.clients import PlatformAccess

# The credential scope's service: the platform's own operations are signed as SageMaker's.
SIGNING_NAME = "sagemaker"


class AdminCallError(Exception):
    """The platform answered a ``ServerlessRay.*`` call with an error (its AWS-shaped code)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class AdminClient:
    def __init__(self, url: str, access: PlatformAccess | None = None, *, timeout_s: float = 30.0) -> None:
        """``access`` None: boto3's standard credential chain (anonymous keys if it finds none)."""
        self.url = url.rstrip("/")
        self._access = access
        self._timeout_s = timeout_s
        self._signer: tuple[Any, str] | None = None  # (botocore credentials, region), made at the first call

    def call(self, operation: str, **payload: Any) -> dict[str, Any]:
        """The answer of ``ServerlessRay.<operation>``; ``AdminCallError`` if the platform
        refused, ``ConnectionError`` if nothing answers at the URL."""
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{SERVERLESS_RAY}.{operation}"}
        request = urllib.request.Request(f"{self.url}/", data=body, headers=self._signed(body, headers), method="POST")
        try:
            with self._open(request) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise _call_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionError(f"no answer from {self.url}: {getattr(exc, 'reason', exc)}") from None

    def metrics_text(self) -> str:
        """The gateway's ``/metrics`` (Prometheus text)."""
        try:
            with self._open(urllib.request.Request(f"{self.url}/metrics")) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionError(f"no answer from {self.url}: {getattr(exc, 'reason', exc)}") from None

    def _open(self, request: urllib.request.Request):
        context = None
        if self.url.startswith("https:"):
            if self._access is not None and not self._access.verify_tls:
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            else:
                context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        return urllib.request.urlopen(request, timeout=self._timeout_s, context=context)

    def _signed(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._signer is None:
            self._signer = _signer(self._access)
        credentials, region = self._signer
        request = AWSRequest(method="POST", url=f"{self.url}/", data=body, headers=headers)
        SigV4Auth(credentials, SIGNING_NAME, region).add_auth(request)
        return dict(request.headers.items())


def _signer(access: PlatformAccess | None) -> tuple[Any, str]:
    """The keys and region boto3 clients of the platform sign with, given ``access``."""
    import boto3
    from botocore.credentials import Credentials

    from serverless_ray.declarative.clients import standard_access
    from serverless_ray.settings import DEFAULT_REGION

    access = access or standard_access()
    if access is not None:
        return Credentials(access.access_key_id, access.secret_access_key), access.region
    session = boto3.Session()  # the standard chain found keys
    return session.get_credentials().get_frozen_credentials(), session.region_name or DEFAULT_REGION


def _call_error(exc: urllib.error.HTTPError) -> AdminCallError:
    try:
        document = json.loads(exc.read() or b"{}")
    except ValueError:
        document = {}
    code = str(document.get("__type") or exc.headers.get("x-amzn-ErrorType") or f"HTTP{exc.code}").split("#")[-1]
    return AdminCallError(code.split(":")[0], document.get("message") or document.get("Message") or exc.reason, exc.code)
