"""Who sent a request and whether they may: SigV4 authentication, then IAM authorization.

Two steps, so that the cheap refusals come before the body is read: :meth:`admit`
checks the ``Authorization`` header, the date and the access key (and the clock window)
from the headers alone; :meth:`authorize` reads the body's hash into the signature,
identifies the operation and evaluates the principal's policy. Either raises the
``ServiceError`` AWS answers with; a refused request never reaches a handler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from serverless_ray.auth.catalog import platform_operations
from serverless_ray.auth.credentials import Credentials, Principal
from serverless_ray.auth.model_data import ModelDataFence
from serverless_ray.auth.operations import Arns, Operation, OperationRegistry, RequestView, unknown_operation
from serverless_ray.auth.policy import Decision
from serverless_ray.auth.sigv4 import (
    AuthorizationHeader,
    IncomingRequest,
    Signers,
    check_clock,
    parse_authorization,
    signing_time,
    verify_signature,
)
from serverless_ray.errors import AccessDenied, InvalidSignature, MissingAuthenticationToken, UnrecognizedClient


@dataclass(frozen=True)
class Admitted:
    """A request whose header, date and key are in order; its signature is checked next."""

    principal: Principal
    header: AuthorizationHeader
    timestamp: str


@dataclass(frozen=True)
class Authorized:
    principal: Principal
    operation: Operation


class Authenticator:
    """The platform's principals, its operations and the policy check, for one gateway."""

    def __init__(
        self,
        principals: Iterable[Principal],
        *,
        arns: Arns,
        trusted: Sequence[Principal] = (),
        model_data_roots: Sequence[Path] = (),
        operations: OperationRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``trusted`` principals (in-cluster callers) are not fenced from local model data."""
        self._by_key = {p.access_key_id: p for p in (*principals, *trusted)}
        self._policies = {key: p.policy.compile() for key, p in self._by_key.items()}
        self._trusted = {p.access_key_id for p in trusted}
        self._arns = arns
        self._fence = ModelDataFence(model_data_roots)
        self._operations = operations or platform_operations()
        self._clock = clock
        self._signers = Signers()

    @classmethod
    def for_platform(cls, credentials: Credentials, *, region: str, account_id: str,
                     internal: Principal | None = None, model_data_roots: Sequence[Path] = ()) -> "Authenticator":
        return cls(credentials.principals, arns=Arns(region, account_id),
                   trusted=[internal] if internal is not None else (), model_data_roots=model_data_roots)

    def admit(self, request: IncomingRequest) -> Admitted:
        """The checks that need no body: header present and well-formed, date, key, clock."""
        value = request.header("authorization")
        if not value:
            raise MissingAuthenticationToken("Missing Authentication Token")
        header = parse_authorization(value)
        timestamp, signed_at = signing_time(request)
        principal = self._by_key.get(header.access_key_id)
        if principal is None:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        if header.date != timestamp[:8]:
            raise InvalidSignature(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{header.date}' != '{timestamp[:8]}', from '{timestamp}'.")
        if header.region != self._arns.region:
            raise InvalidSignature(
                f"Credential should be scoped to a valid region, not '{header.region}'; "
                f"this platform's region is '{self._arns.region}'.")
        check_clock(timestamp, signed_at, self._clock())
        return Admitted(principal, header, timestamp)

    def authorize(self, admitted: Admitted, request: IncomingRequest, path: str) -> Authorized:
        """Verify the signature over the whole request, then the principal's policy.
        ``path`` is the decoded path the router routes."""
        header = admitted.header
        operation = self._operations.identify(
            RequestView(request.method, path, request.first, request.body), self._arns,
        ) or unknown_operation(header.service)
        if header.service != operation.signing_name:
            raise InvalidSignature(f"Credential should be scoped to correct service: '{operation.signing_name}'.")
        verify_signature(request, header, admitted.timestamp, admitted.principal.secret(), self._signers)
        principal = admitted.principal
        decision = self._policies[principal.access_key_id].evaluate(operation.action, operation.resource)
        if decision is not Decision.ALLOWED:
            because = ("with an explicit deny in an identity-based policy" if decision is Decision.EXPLICIT_DENY
                       else f"because no identity-based policy allows the {operation.action} action")
            raise AccessDenied(
                f"User: {self._arns.user(principal.name)} is not authorized to perform: {operation.action} "
                f"on resource: {operation.resource} {because}")
        if operation.payload is not None and principal.access_key_id not in self._trusted:
            self._fence.check(operation.payload)
        return Authorized(principal, operation)

