"""Schedule expressions across time zones, DST, windows and years."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from serverless_ray.spec.schedules import Window, last_fire, next_fire, parse_schedule, zone

UTC = timezone.utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(tz="UTC", created=utc(2026, 1, 1), start=None, end=None) -> Window:
    return Window(tz=zone(tz), created=created, start=start, end=end)


@pytest.mark.parametrize("expression", [
    "at(2026-11-25T13:00:00)", "rate(1 minute)", "rate(5 minutes)", "rate(2 hours)", "rate(1 day)",
    "cron(0 9 ? * MON-FRI *)", "cron(30 2 * * ? 2026)", "cron(0/15 * * * ? *)", "cron(0 18 ? * 2#1 *)",
])
def test_valid_expressions(expression):
    assert parse_schedule(expression).expression == expression


@pytest.mark.parametrize("expression, message", [
    ("every day", "expected at("),
    ("rate(0 minutes)", "at least 1"),
    ("rate(5 minute)", "rate(5 minutes)"),
    ("rate(1 minutes)", "rate(1 minute)"),
    ("cron(0 9 * * *)", "6 cron fields"),
    ("cron(0 9 1 * MON *)", "'?'"),
    ("cron(99 9 ? * * *)", "not a valid cron"),
    ("cron(0 9 ? * * 20x6)", "Year"),
    ("at(2026-13-01T00:00:00)", "invalid date"),
])
def test_invalid_expressions_name_the_problem(expression, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(expression)


def test_invalid_timezone():
    with pytest.raises(ValueError, match="not a valid IANA time zone"):
        zone("Mars/Olympus")


def test_at_fires_once_in_its_timezone():
    schedule = parse_schedule("at(2026-06-01T09:00:00)")
    w = window("Europe/Berlin")  # CEST, UTC+2
    assert next_fire(schedule, w, utc(2026, 6, 1)) == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
    assert last_fire(schedule, w, utc(2026, 6, 1, 6, 59)) is None
    assert last_fire(schedule, w, utc(2026, 6, 1, 7, 0)) == utc(2026, 6, 1, 7, 0)
    assert next_fire(schedule, w, utc(2026, 6, 1, 7, 0)) is None


def test_rate_counts_from_creation_or_start_time():
    schedule = parse_schedule("rate(10 minutes)")
    created = utc(2026, 1, 1, 12, 0)
    assert next_fire(schedule, window(created=created), created) == utc(2026, 1, 1, 12, 10)
    assert last_fire(schedule, window(created=created), utc(2026, 1, 1, 12, 35)) == utc(2026, 1, 1, 12, 30)
    started = window(created=created, start=utc(2026, 1, 1, 13, 0))
    assert next_fire(schedule, started, created) == utc(2026, 1, 1, 13, 0)
    assert last_fire(schedule, started, utc(2026, 1, 1, 12, 59)) is None


def test_cron_weekdays_in_new_york_across_dst():
    schedule = parse_schedule("cron(0 9 ? * MON-FRI *)")
    w = window("America/New_York")
    # Friday 2026-03-06 09:00 EST is 14:00 UTC; Monday 2026-03-09 09:00 EDT is 13:00 UTC.
    assert next_fire(schedule, w, utc(2026, 3, 6, 13, 0)) == utc(2026, 3, 6, 14, 0)
    assert next_fire(schedule, w, utc(2026, 3, 6, 14, 0)) == utc(2026, 3, 9, 13, 0)
    assert last_fire(schedule, w, utc(2026, 3, 8, 12, 0)) == utc(2026, 3, 6, 14, 0)


def test_cron_numeric_day_of_week_is_aws_numbering():
    sunday = parse_schedule("cron(0 12 ? * 1 *)")  # 1 = SUN in AWS
    assert next_fire(sunday, window(), utc(2026, 11, 25)) == utc(2026, 11, 29, 12, 0)


def test_cron_in_the_dst_gap_fires_once_that_day():
    schedule = parse_schedule("cron(30 2 * * ? *)")
    w = window("America/New_York")
    fire = next_fire(schedule, w, utc(2026, 3, 8, 5, 0))  # 00:00 local on spring-forward day
    assert fire is not None and fire.date() == datetime(2026, 3, 8).date()
    assert next_fire(schedule, w, fire) > fire + timedelta(hours=20)


def test_cron_year_field_limits_fires():
    schedule = parse_schedule("cron(0 0 1 1 ? 2027)")
    assert next_fire(schedule, window(), utc(2026, 5, 1)) == utc(2027, 1, 1)
    assert next_fire(schedule, window(), utc(2027, 1, 1)) is None
    assert last_fire(schedule, window(), utc(2026, 12, 31)) is None


def test_end_time_stops_fires_and_start_time_delays_them():
    schedule = parse_schedule("cron(0 * * * ? *)")
    w = window(start=utc(2026, 1, 1, 5, 30), end=utc(2026, 1, 1, 8, 0))
    assert next_fire(schedule, w, utc(2026, 1, 1, 0, 0)) == utc(2026, 1, 1, 6, 0)
    assert next_fire(schedule, w, utc(2026, 1, 1, 8, 0)) is None
    assert last_fire(schedule, w, utc(2026, 1, 1, 12, 0)) == utc(2026, 1, 1, 8, 0)
    assert last_fire(schedule, w, utc(2026, 1, 1, 5, 45)) is None
