"""Typed service errors and their wire identity.

Every error the platform reports to a client is one of these classes. Handlers raise
them; only :mod:`serverless_ray.gateway.wire` turns them into HTTP responses, so the
mapping from error to status code, ``__type`` and ``x-amzn-ErrorType`` lives here and
nowhere else. Python handles get the same objects.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """Base of every error that travels to a client.

    ``code`` is what botocore reports as ``Error.Code``; ``status`` is the HTTP status.
    ``fields`` are extra members of the JSON error body (e.g. ModelError's
    ``OriginalStatusCode``).
    """

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    # Services that once spoke the query protocol (CloudWatch) keep their old codes:
    # clients read ``query_code`` from ``x-amzn-query-error`` (or the XML ``Code``).
    query_code: ClassVar[str | None] = None
    sender_fault: ClassVar[bool] = True

    def __init__(self, message: str | None, **fields: Any) -> None:
        super().__init__(message or "")
        self.message = message
        self.fields = fields

    def __reduce__(self):  # keep fields when the error crosses a Ray process boundary
        return (_rebuild, (type(self), self.message, self.fields))

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": self.message, **self.fields}


def _rebuild(cls: type[ServiceError], message: str | None, fields: dict[str, Any]) -> ServiceError:
    return cls(message, **fields)


# --- control plane (awsJson 1.1, SageMaker) -------------------------------------------


class ValidationException(ServiceError):
    """Bad input, a missing resource or a duplicate (SageMaker hosting uses this for all)."""

    code = "ValidationException"
    status = 400


class ResourceLimitExceeded(ServiceError):
    code = "ResourceLimitExceeded"
    status = 400


class ResourceInUse(ServiceError):
    code = "ResourceInUse"
    status = 400


class ResourceNotFound(ServiceError):
    code = "ResourceNotFound"
    status = 400


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"
    status = 400


class UnknownPath(ServiceError):
    """No operation is served at the request's path (or not with its method)."""

    code = "UnknownOperationException"
    status = 404


class SerializationException(ServiceError):
    code = "SerializationException"
    status = 400


class InternalFailure(ServiceError):
    code = "InternalFailure"
    status = 500


def internal_failure(doing: str, exc: BaseException) -> InternalFailure:
    """What a client sees of a bug (not the caller's fault): what failed, without details."""
    return InternalFailure(f"Internal error while {doing}: {type(exc).__name__}")


# --- runtime (rest-json, sagemaker-runtime) -------------------------------------------


class RuntimeValidationError(ServiceError):
    """The runtime's ``ValidationError`` (unknown endpoint, oversize body, bad headers)."""

    code = "ValidationError"
    status = 400


class ModelError(ServiceError):
    """The model answered with an error, or did not answer at all."""

    code = "ModelError"
    status = 424


class ModelTimedOut(ModelError):
    """A ModelError: the model did not finish within the invocation timeout (a stream
    that times out after its first part ends with ``ModelInvocationTimeExceeded``)."""


def no_response(reason: str, *, kind: type[ModelError] = ModelError) -> ModelError:
    """The ModelError of a model that did not answer (its replica failed, or timed out)."""
    return kind(
        f'Received server error (0) from model with message "{reason}". See the endpoint\'s logs for more information.',
        OriginalStatusCode=0,
        OriginalMessage=reason,
        ErrorCode="SERVER_ERROR_FROM_MODEL",
    )


class ModelNotReadyException(ServiceError):
    code = "ModelNotReadyException"
    status = 429


class ThrottlingException(ServiceError):
    code = "ThrottlingException"
    status = 400


class ServiceUnavailable(ServiceError):
    code = "ServiceUnavailable"
    status = 503


# --- errors inside a response stream (sent as exception events after the first part) --


class ModelStreamError(ServiceError):
    """The model's stream failed after its first part: ``ErrorCode`` is
    ``ModelInvocationTimeExceeded`` (the invocation timeout passed) or ``StreamBroken``."""

    code = "ModelStreamError"
    status = 424


class InternalStreamFailure(ServiceError):
    """The platform failed while streaming (not the model's fault)."""

    code = "InternalStreamFailure"
    status = 500


# --- Application Auto Scaling (awsJson 1.1, AnyScaleFrontendService) --------------------


class ObjectNotFoundException(ServiceError):
    """A scalable target, scaling policy or scheduled action that does not exist."""

    code = "ObjectNotFoundException"
    status = 400


class ConcurrentUpdateException(ServiceError):
    code = "ConcurrentUpdateException"
    status = 400


# --- authentication and authorization (every API) ---------------------------------------
# The codes AWS answers with; botocore reads them from ``__type`` (awsJson) or
# ``x-amzn-ErrorType`` (rest-json) like any other error.


class MissingAuthenticationToken(ServiceError):
    """The request carries no ``Authorization`` header (an unsigned request)."""

    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignature(ServiceError):
    """The ``Authorization`` header, or the date it needs, is malformed."""

    code = "IncompleteSignatureException"
    status = 403


class UnrecognizedClient(ServiceError):
    """No principal has the request's access key."""

    code = "UnrecognizedClientException"
    status = 403


class InvalidSignature(ServiceError):
    """The signature does not match, or was made outside the clock window."""

    code = "InvalidSignatureException"
    status = 403


class AccessDenied(ServiceError):
    """Authenticated, but no policy statement allows the action, or one denies it."""

    code = "AccessDeniedException"
    status = 400


# --- CloudWatch (JSON 1.0 query-compatible, query, RPC v2 CBOR) --------------------------


class InvalidParameterValueException(ServiceError):
    code = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"
    status = 400


class MissingRequiredParameterException(ServiceError):
    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"
    status = 400


class InvalidParameterCombinationException(ServiceError):
    code = "InvalidParameterCombinationException"
    query_code = "InvalidParameterCombination"
    status = 400


class InvalidNextToken(ServiceError):
    code = "InvalidNextToken"
    query_code = "InvalidNextToken"
    status = 400


class InternalServiceFault(ServiceError):
    code = "InternalServiceFault"
    query_code = "InternalServiceError"
    status = 500
    sender_fault = False


# --- CloudWatch Logs (awsJson 1.1, Logs_20140328) ---------------------------------------


class LogsResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
    status = 400


class InvalidParameterException(ServiceError):
    code = "InvalidParameterException"
    status = 400
