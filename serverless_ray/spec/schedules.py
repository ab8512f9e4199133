"""Application Auto Scaling schedule expressions, evaluated in a time zone (pure, no Ray).

Forms: ``at(yyyy-mm-ddThh:mm:ss)`` (once), ``rate(N minute|minutes|hour|hours|day|days)``
and ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``. Cron fields follow AWS:
``?`` means "any", day-of-week 1-7 is SUN-SAT (names work too), and a sixth field gives
the year. Evaluation is delegated to ``croniter`` on time-zone-aware datetimes, which
handles daylight-saving gaps and repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator

FORMS = "at(yyyy-mm-ddThh:mm:ss), rate(<n> minute(s)|hour(s)|day(s)) or cron(Minutes Hours Day-of-month Month Day-of-week Year)"
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
# croniter counts days of the week 0-6 from Sunday; AWS counts 1-7 from Sunday.
_DOW_NUMBER = re.compile(r"(?<![#\d])([1-7])(?![\d])")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule expression; use :func:`parse_schedule`."""

    kind: Literal["at", "rate", "cron"]
    expression: str
    at: datetime | None = None  # naive, local to the action's time zone
    period_s: int = 0
    cron: str = ""  # croniter form (five fields)
    years: frozenset[int] | None = None  # None: every year


def parse_schedule(expression: str) -> Schedule:
    """Parse ``expression`` or raise ``ValueError`` naming the allowed forms."""
    text = expression.strip()
    if m := _AT.match(text):
        try:
            return Schedule("at", text, at=datetime.fromisoformat(m.group(1)))
        except ValueError:
            raise ValueError(f"Schedule '{expression}' has an invalid date; expected {FORMS}") from None
    if m := _RATE.match(text):
        amount, unit = int(m.group(1)), m.group(2).rstrip("s")
        if amount < 1:
            raise ValueError(f"Schedule '{expression}': the rate must be at least 1 {unit}")
        if (amount == 1) != (m.group(2) == unit):
            raise ValueError(f"Schedule '{expression}': write rate(1 {unit}) or rate({max(amount, 2)} {unit}s)")
        return Schedule("rate", text, period_s=amount * _UNITS[unit])
    if m := _CRON.match(text):
        return _parse_cron(text, m.group(1))
    raise ValueError(f"Schedule '{expression}' is not valid; expected {FORMS}")


def _parse_cron(text: str, body: str) -> Schedule:
    fields = body.split()
    if len(fields) != 6:
        raise ValueError(f"Schedule '{text}' must have 6 cron fields (Minutes Hours Day-of-month Month Day-of-week Year)")
    minute, hour, dom, month, dow, year = fields
    if dom != "?" and dow != "?" and "*" not in (dom, dow):
        raise ValueError(f"Schedule '{text}': give either Day-of-month or Day-of-week, and '?' for the other")
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else _DOW_NUMBER.sub(lambda d: str(int(d.group(1)) - 1), dow)
    expression = " ".join((minute, hour, dom, month, dow))
    if not croniter.is_valid(expression):
        raise ValueError(f"Schedule '{text}' is not a valid cron expression; expected {FORMS}")
    return Schedule("cron", text, cron=expression, years=_years(text, year))


def _years(text: str, field: str) -> frozenset[int] | None:
    if field in ("*", "?"):
        return None
    years: set[int] = set()
    for part in field.split(","):
        m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?(?:/(\d+))?", part)
        if not m:
            raise ValueError(f"Schedule '{text}': invalid Year field '{field}'")
        first, last, step = int(m.group(1)), int(m.group(2) or m.group(1)), int(m.group(3) or 1)
        years.update(range(first, last + 1, step))
    return frozenset(years)


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (default UTC), or ``ValueError``."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Timezone '{name}' is not a valid IANA time zone name (e.g. 'UTC', 'Europe/Berlin')") from None



def _checked_schedule(expression: str) -> str:
    parse_schedule(expression)
    return expression


def _checked_zone(name: str) -> str:
    zone(name)
    return name


# For pydantic models that take a schedule or a time zone: validated where they are declared.
ScheduleExpression = Annotated[str, AfterValidator(_checked_schedule)]
TimeZoneName = Annotated[str, AfterValidator(_checked_zone)]

@dataclass(frozen=True)
class Window:
    """When a scheduled action may fire: its time zone and optional Start/EndTime."""

    tz: ZoneInfo
    created: datetime  # aware; rate() counts from here unless a StartTime is given
    start: datetime | None = None  # aware
    end: datetime | None = None  # aware


def last_fire(schedule: Schedule, window: Window, now: datetime) -> datetime | None:
    """The latest moment at or before ``now`` the schedule fired (None if it never did)."""
    now = min(now, window.end) if window.end else now
    earliest = window.start or window.created
    if now < earliest:
        return None
    if schedule.kind == "at":
        assert schedule.at is not None
        moment = schedule.at.replace(tzinfo=window.tz)
        return moment if earliest <= moment <= now else None
    if schedule.kind == "rate":
        anchor = window.start or window.created
        first = anchor if window.start else anchor + timedelta(seconds=schedule.period_s)
        if now < first:
            return None
        steps = int((now - first).total_seconds() // schedule.period_s)
        return first + timedelta(seconds=steps * schedule.period_s)
    return _cron_around(schedule, window, now, backwards=True, bound=earliest)


def next_fire(schedule: Schedule, window: Window, after: datetime) -> datetime | None:
    """The first moment strictly after ``after`` the schedule fires (None if never again)."""
    earliest = window.start or window.created
    if schedule.kind == "at":
        assert schedule.at is not None
        moment = schedule.at.replace(tzinfo=window.tz)
        fires = moment > after and moment >= earliest
    elif schedule.kind == "rate":
        anchor = window.start or window.created
        first = anchor if window.start else anchor + timedelta(seconds=schedule.period_s)
        if after < first:
            moment = first
        else:
            steps = int((after - first).total_seconds() // schedule.period_s) + 1
            moment = first + timedelta(seconds=steps * schedule.period_s)
        fires = True
    else:
        found = _cron_around(schedule, window, max(after, earliest - timedelta(seconds=1)), backwards=False)
        moment, fires = (found, True) if found else (after, False)
    if not fires or (window.end and moment > window.end):
        return None
    return moment


def _cron_around(
    schedule: Schedule, window: Window, moment: datetime, *, backwards: bool, bound: datetime | None = None
) -> datetime | None:
    it = croniter(schedule.cron, moment.astimezone(window.tz))
    if backwards:
        # croniter's get_prev is strictly before; a fire exactly at ``moment`` counts.
        it = croniter(schedule.cron, (moment + timedelta(seconds=1)).astimezone(window.tz))
    for _ in range(2000):  # years with no match end the search
        found = it.get_prev(datetime) if backwards else it.get_next(datetime)
        if backwards and bound is not None and found < bound:
            return None
        if schedule.years is None or found.year in schedule.years:
            return found.astimezone(timezone.utc)
        if schedule.years and (
            (backwards and found.year < min(schedule.years)) or (not backwards and found.year > max(schedule.years))
        ):
            return None
    return None
