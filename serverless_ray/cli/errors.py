"""Every error the command line reports: one line, with a code, and an exit status.

Commands raise; :func:`report` turns what they raised into ``serverless-ray: <Code>:
<message>`` on stderr and the exit status below. A traceback is never shown (set
``SERVERLESS_RAY_DEBUG=1`` to see one).
"""

from __future__ import annotations

import os
import traceback
from typing import TextIO

# Exit statuses.
OK = 0
SERVICE_ERROR = 1  # the platform (or AWS semantics) refused: the code says why
USAGE_ERROR = 2  # bad flags, arguments or input files
UNREACHABLE = 3  # no platform answers at the URL (or no Ray cluster at the address)
INTERRUPTED = 130


class CliError(Exception):
    """An error with its code and exit status, raised by commands."""

    def __init__(self, code: str, message: str, exit_code: int = SERVICE_ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


def usage_error(message: str, code: str = "InvalidArgument") -> CliError:
    return CliError(code, message, USAGE_ERROR)


def unreachable(url: str) -> CliError:
    return CliError(
        "PlatformUnreachable",
        f"no serverless-ray platform answers at {url} (is `serverless-ray up` running there? --url or "
        "SERVERLESS_RAY_URL names another one)",
        UNREACHABLE,
    )


def as_cli_error(exc: BaseException, url: str | None = None) -> CliError:
    """What ``exc`` means to a user of the command line."""
    import click

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return CliError("Interrupted", "stopped by Ctrl-C", INTERRUPTED)
    if isinstance(exc, click.exceptions.NoSuchOption | click.exceptions.BadParameter | click.exceptions.UsageError):
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        return CliError("InvalidArgument", f"{exc.format_message()}{hint}", USAGE_ERROR)
    if isinstance(exc, click.exceptions.ClickException):
        return CliError("InvalidArgument", exc.format_message(), USAGE_ERROR)
    from serverless_ray.admin_client import AdminCallError

    if isinstance(exc, AdminCallError):
        return CliError(exc.code, exc.message, SERVICE_ERROR)
    from_botocore = _botocore_error(exc, url)
    if from_botocore is not None:
        return from_botocore
    from serverless_ray.billing.prices import PriceTableError

    if isinstance(exc, PriceTableError):
        return CliError("InvalidPriceTable", str(exc), USAGE_ERROR)
    if isinstance(exc, ConnectionError | TimeoutError) and url is not None:
        return unreachable(url)
    return CliError("InternalError", f"{type(exc).__name__}: {exc}".rstrip(": "), SERVICE_ERROR)


def _botocore_error(exc: BaseException, url: str | None) -> CliError | None:
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - botocore is a dependency
        return None
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        return CliError(error.get("Code") or "Error", error.get("Message") or str(exc), SERVICE_ERROR)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionClosedError | bx.ReadTimeoutError
                   | bx.ConnectTimeoutError):
        return unreachable(url or getattr(exc, "kwargs", {}).get("endpoint_url", "the platform's URL"))
    if isinstance(exc, bx.ParamValidationError):
        return CliError("InvalidArgument", " ".join(str(exc).split()), USAGE_ERROR)
    if isinstance(exc, bx.BotoCoreError):
        return CliError(type(exc).__name__, " ".join(str(exc).split()), SERVICE_ERROR)
    return None


def report(error: CliError, stream: TextIO, cause: BaseException | None = None) -> int:
    """Print ``error`` as one line on ``stream``; return its exit status."""
    message = " ".join(error.message.split())  # one line, whatever the message held
    print(f"serverless-ray: {error.code}: {message}", file=stream, flush=True)
    if cause is not None and os.environ.get("SERVERLESS_RAY_DEBUG"):
        traceback.print_exception(cause, file=stream)
    return error.exit_code
