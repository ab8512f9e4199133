"""A client of the platform's own operations (``X-Amz-Target: ServerlessRay.*``) and its
``/metrics``, over HTTP like every other client: used by the command line and the
benchmark. Requests are signed with SigV4 as boto3 signs the SageMaker ones."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from serverless_ray.spec.services import SERVERLESS_RAY

ACCESS_KEY = SECRET_KEY = "serverless-ray"  # the platform does not check them (as the boto3 clients' ones)


class AdminCallError(Exception):
    """The platform answered a ``ServerlessRay.*`` call with an error (its AWS-shaped code)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class AdminClient:
    def __init__(self, url: str, *, region: str = "us-east-1", timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._region = region
        self._timeout_s = timeout_s

    def call(self, operation: str, **payload: Any) -> dict[str, Any]:
        """The answer of ``ServerlessRay.<operation>``; ``AdminCallError`` if the platform
        refused, ``ConnectionError`` if nothing answers at the URL."""
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{SERVERLESS_RAY}.{operation}"}
        request = urllib.request.Request(f"{self.url}/", data=body, headers=self._signed(body, headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise _call_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionError(f"no answer from {self.url}: {getattr(exc, 'reason', exc)}") from None

    def metrics_text(self) -> str:
        """The gateway's ``/metrics`` (Prometheus text)."""
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=self._timeout_s) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionError(f"no answer from {self.url}: {getattr(exc, 'reason', exc)}") from None

    def _signed(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method="POST", url=f"{self.url}/", data=body, headers=headers)
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sagemaker", self._region).add_auth(request)
        return dict(request.headers.items())


def _call_error(exc: urllib.error.HTTPError) -> AdminCallError:
    try:
        document = json.loads(exc.read() or b"{}")
    except ValueError:
        document = {}
    code = str(document.get("__type") or exc.headers.get("x-amzn-ErrorType") or f"HTTP{exc.code}").split("#")[-1]
    return AdminCallError(code.split(":")[0], document.get("message") or document.get("Message") or exc.reason, exc.code)
