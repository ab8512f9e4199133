"""Small formatting helpers the commands share."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from serverless_ray.cli.errors import usage_error

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def print_json(document: Any) -> None:
    """``document`` as indented JSON on stdout (times as ISO text)."""
    json.dump(document, sys.stdout, indent=2, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o))
    sys.stdout.write("\n")
    sys.stdout.flush()


def usd(value: float | None) -> str:
    if value is None:
        return "not priced"
    if value == 0:
        return "$0"
    return f"${value:,.6f}" if value < 1 else f"${value:,.2f}"


def parse_duration(text: str, flag: str = "--since") -> float:
    """Seconds in ``text`` such as 90s, 15m, 1h, 2d or 1h30m."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise usage_error(f"{flag} {text!r}: give a duration such as 90s, 15m, 1h, 2d or 1h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise usage_error(f"{flag} {text!r}: the duration must be positive")
    return seconds
