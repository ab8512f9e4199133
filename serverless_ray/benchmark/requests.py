"""The example requests a benchmark sends: JSON Lines of ``{"Body": ..., "ContentType":
...}`` (optionally ``"Accept"``), the format AWS's benchmarking toolkit reads (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class RequestsFileError(ValueError):
    """The requests file cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class ExampleRequest:
    body: bytes
    content_type: str
    accept: str | None = None


def load_requests(path: Path) -> list[ExampleRequest]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise RequestsFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    requests = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise RequestsFileError(f"{path}:{number}: not a JSON object ({exc})") from None
        if not isinstance(item, dict) or "Body" not in item:
            raise RequestsFileError(f'{path}:{number}: expected {{"Body": ..., "ContentType": ...}}')
        body = item["Body"]
        # AWS's toolkit gives the body as a string; a JSON value is sent as its JSON text.
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        content_type = item.get("ContentType") or "application/json"
        if not isinstance(content_type, str):
            raise RequestsFileError(f"{path}:{number}: ContentType must be a string")
        requests.append(ExampleRequest(data, content_type, item.get("Accept")))
    if not requests:
        raise RequestsFileError(f"{path}: no requests in it")
    return requests
