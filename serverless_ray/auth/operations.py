"""Which operation a request is: its signing service, IAM action and resource.

A registry of recognizers, one per protocol family: :class:`AwsJsonService` for ``POST /``
with ``X-Amz-Target: <prefix>.<Operation>``, :class:`PathOperation` for REST routes
(matched with Starlette's own path compiler, so the resource comes from the path the
router routes). An API added to the gateway adds its recognizer to
:func:`platform_operations` (or to the registry the gateway builds); a request no
recognizer knows is authorized as ``<service>:*`` on ``*``, so only a principal allowed
every action of the service reaches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qs

from starlette.routing import compile_path

from serverless_ray.spec.arns import log_group_arn, sagemaker_arn


@dataclass(frozen=True)
class Arns:
    """The platform's region and account, which every resource ARN names."""

    region: str
    account_id: str

    def sagemaker(self, kind: str, name: Any) -> str:
        """The ARN of SageMaker resource ``kind/name``; ``name`` may be an ARN already,
        and a missing or malformed name is ``*`` (the handler refuses the request)."""
        if not isinstance(name, str) or not name:
            return "*"
        return name if name.startswith("arn:") else sagemaker_arn(self.region, self.account_id, kind, name)

    def log_group(self, name: Any) -> str:
        """The ARN of log group ``name`` and its streams (``*`` for a missing name)."""
        if not isinstance(name, str) or not name:
            return "*"
        return log_group_arn(self.region, self.account_id, name) + ":*"

    def user(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{name}"


@dataclass(frozen=True)
class RequestView:
    """What a recognizer may look at: method, the decoded path the router routes, the
    headers (lower-case names, first value) and the body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Operation:
    """An identified request."""

    signing_name: str  # the service of the credential scope (botocore's signingName)
    action: str  # "sagemaker:CreateModel"
    resource: str  # an ARN, or "*"
    payload: Mapping[str, Any] | None = None  # the parsed JSON body of awsJson requests


class Recognizer(Protocol):
    def identify(self, request: RequestView, arns: Arns) -> Operation | None: ...


ResourceOf = Callable[[Mapping[str, Any], Arns], str]


def named(kind: str, member: str) -> ResourceOf:
    """The resource is the SageMaker ``kind`` named by request member ``member``."""
    return lambda payload, arns: arns.sagemaker(kind, payload.get(member))


def arn_member(member: str) -> ResourceOf:
    """The resource is the ARN given in request member ``member``."""

    def resource(payload: Mapping[str, Any], arns: Arns) -> str:
        value = payload.get(member)
        return value if isinstance(value, str) and value.startswith("arn:") else "*"

    return resource


@dataclass(frozen=True)
class AwsJsonService:
    """An awsJson service: ``POST /`` with ``X-Amz-Target: <target_prefix>.<Operation>``."""

    target_prefix: str
    signing_name: str
    action_prefix: str  # IAM service prefix, e.g. "sagemaker"
    resources: Mapping[str, ResourceOf] = field(default_factory=dict)  # by operation; others: "*"

    def identify(self, request: RequestView, arns: Arns) -> Operation | None:
        if request.path != "/" or request.method != "POST":
            return None
        prefix, _, operation = request.headers.get("x-amz-target", "").partition(".")
        if prefix != self.target_prefix or not operation:
            return None
        try:
            payload = json.loads(request.body) if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            payload = None  # the handler answers SerializationException
        if not isinstance(payload, dict):
            payload = {}
        resource_of = self.resources.get(operation)
        resource = resource_of(payload, arns) if resource_of else "*"
        return Operation(self.signing_name, f"{self.action_prefix}:{operation}", resource, payload)


@dataclass(frozen=True)
class QueryService:
    """An AWS query-protocol service: ``POST /`` with a form body ``Action=<Operation>&Version=<version>``.
    Its operations are authorized on ``*`` (as CloudWatch's metric actions are)."""

    version: str
    signing_name: str
    action_prefix: str

    def identify(self, request: RequestView, arns: Arns) -> Operation | None:
        if request.path != "/" or request.method != "POST" or "x-amz-target" in request.headers:
            return None
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return None
        try:
            form = parse_qs(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        if form.get("Version", [""])[0] != self.version or not form.get("Action", [""])[0]:
            return None
        return Operation(self.signing_name, f"{self.action_prefix}:{form['Action'][0]}", "*")


@dataclass(frozen=True)
class RpcV2Service:
    """A Smithy RPC v2 CBOR service: ``POST /service/<service>/operation/<Operation>``,
    authorized on ``*``."""

    service: str
    signing_name: str
    action_prefix: str

    def identify(self, request: RequestView, arns: Arns) -> Operation | None:
        prefix = f"/service/{self.service}/operation/"
        if request.method != "POST" or not request.path.startswith(prefix):
            return None
        operation = request.path[len(prefix):]
        if not operation or "/" in operation:
            return None
        return Operation(self.signing_name, f"{self.action_prefix}:{operation}", "*")


@dataclass(frozen=True)
class PathOperation:
    """A REST route: ``method`` on Starlette path ``template``; the resource from its parameters."""

    template: str
    method: str
    signing_name: str
    action: str
    resource: Callable[[Mapping[str, str], Arns], str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", compile_path(self.template)[0])

    def identify(self, request: RequestView, arns: Arns) -> Operation | None:
        match = self._regex.match(request.path)  # type: ignore[attr-defined]
        if match is None or request.method != self.method:
            return None
        return Operation(self.signing_name, self.action, self.resource(match.groupdict(), arns))


class OperationRegistry:
    """Recognizers, asked in order; the first that knows a request identifies it."""

    def __init__(self, recognizers: list[Recognizer] | None = None) -> None:
        self._recognizers: list[Recognizer] = list(recognizers or [])

    def add(self, recognizer: Recognizer) -> None:
        self._recognizers.append(recognizer)

    def identify(self, request: RequestView, arns: Arns) -> Operation | None:
        for recognizer in self._recognizers:
            operation = recognizer.identify(request, arns)
            if operation is not None:
                return operation
        return None


def unknown_operation(signing_name: str) -> Operation:
    """A request no recognizer knows: only ``<service>:*`` covers it."""
    return Operation(signing_name, f"{signing_name}:*", "*")
