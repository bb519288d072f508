"""functions/schedule_expr.py: EventBridge Scheduler's rate / cron / at expressions, as tables."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bayou.errors import ValidationException
from bayou.functions.schedule_expr import parse

UTC = dt.UTC


def ts(text: str, tz: str = "UTC") -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def iso(t: float | None, tz: str = "UTC") -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S%z")


def series(expr: str, start: str, n: int, tz: str = "UTC") -> list[str | None]:
    parsed, t, out = parse(expr, tz), ts(start, tz), []
    for _ in range(n):
        nxt = parsed.next_fire(t)
        out.append(iso(nxt, tz))
        if nxt is None:
            break
        t = nxt
    return out


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        ("rate(1 minute)", "2024-01-01T00:00:00", ["2024-01-01T00:01:00+0000", "2024-01-01T00:02:00+0000"]),
        ("rate(5 minutes)", "2024-01-01T00:00:00", ["2024-01-01T00:05:00+0000", "2024-01-01T00:10:00+0000"]),
        ("rate(1 hour)", "2024-01-31T23:30:00", ["2024-02-01T00:30:00+0000", "2024-02-01T01:30:00+0000"]),
        ("rate(2 days)", "2024-02-28T12:00:00", ["2024-03-01T12:00:00+0000", "2024-03-03T12:00:00+0000"]),
        # every 15 minutes, crossing midnight at a month end and a year end
        ("cron(0/15 * * * ? *)", "2023-12-31T23:40:00",
         ["2023-12-31T23:45:00+0000", "2024-01-01T00:00:00+0000", "2024-01-01T00:15:00+0000"]),
        # last day of the month: leap February, then 31 and 30-day months
        ("cron(0 12 L * ? *)", "2024-01-31T12:00:00",
         ["2024-02-29T12:00:00+0000", "2024-03-31T12:00:00+0000", "2024-04-30T12:00:00+0000"]),
        ("cron(0 0 31 * ? *)", "2024-01-31T00:00:00", ["2024-03-31T00:00:00+0000", "2024-05-31T00:00:00+0000"]),
        # names, ranges and lists; 1=SUN in EventBridge's day-of-week
        ("cron(0 9 ? * MON-FRI *)", "2024-03-01T10:00:00",  # a Friday
         ["2024-03-04T09:00:00+0000", "2024-03-05T09:00:00+0000"]),
        ("cron(0 9 ? * 1,7 *)", "2024-03-01T10:00:00", ["2024-03-02T09:00:00+0000", "2024-03-03T09:00:00+0000"]),
        ("cron(30 8 1 JAN,JUL ? *)", "2024-02-01T00:00:00",
         ["2024-07-01T08:30:00+0000", "2025-01-01T08:30:00+0000"]),
        ("cron(0 10-12 1 * ? *)", "2024-01-01T10:30:00",
         ["2024-01-01T11:00:00+0000", "2024-01-01T12:00:00+0000", "2024-02-01T10:00:00+0000"]),
        # third Friday, last Monday, nearest weekday, last weekday
        ("cron(0 0 ? * 6#3 *)", "2024-02-01T00:00:00", ["2024-02-16T00:00:00+0000", "2024-03-15T00:00:00+0000"]),
        ("cron(0 0 ? * MON#1 *)", "2024-02-01T00:00:00", ["2024-02-05T00:00:00+0000"]),
        ("cron(0 0 ? * 2L *)", "2024-02-01T00:00:00", ["2024-02-26T00:00:00+0000", "2024-03-25T00:00:00+0000"]),
        ("cron(0 0 15W * ? *)", "2024-06-01T00:00:00",  # 15 June 2024 is a Saturday → Friday 14
         ["2024-06-14T00:00:00+0000", "2024-07-15T00:00:00+0000"]),
        ("cron(0 0 1W * ? *)", "2024-06-01T00:00:00",  # 1 June 2024 is a Saturday → Monday 3
         ["2024-06-03T00:00:00+0000"]),
        ("cron(0 0 LW * ? *)", "2024-08-01T00:00:00",  # 31 August 2024 is a Saturday → Friday 30
         ["2024-08-30T00:00:00+0000"]),
        # a year field ends the schedule
        ("cron(0 0 1 1 ? 2025-2026)", "2024-06-01T00:00:00",
         ["2025-01-01T00:00:00+0000", "2026-01-01T00:00:00+0000", None]),
        ("cron(0 0 30 2 ? *)", "2024-01-01T00:00:00", [None]),  # 30 February never comes
        ("at(2024-05-01T10:00:00)", "2024-01-01T00:00:00", ["2024-05-01T10:00:00+0000", None]),
        ("at(2024-05-01T10:00:00)", "2024-05-01T10:00:00", [None]),
    ],
)
def test_next_fire_utc(expr: str, start: str, expected: list[str | None]) -> None:
    assert series(expr, start, len(expected)) == expected


def test_cron_in_a_time_zone_across_dst() -> None:
    ny = "America/New_York"
    # 2024-03-10: 02:30 does not exist in New York; that day's firing is skipped
    assert series("cron(30 2 * * ? *)", "2024-03-09T03:00:00", 2, ny) == [
        "2024-03-11T02:30:00-0400", "2024-03-12T02:30:00-0400",
    ]
    # 2024-11-03: 01:30 happens twice; it fires once, at the first (EDT) occurrence
    assert series("cron(30 1 * * ? *)", "2024-11-02T12:00:00", 2, ny) == [
        "2024-11-03T01:30:00-0400", "2024-11-04T01:30:00-0500",
    ]
    # wall-clock time holds across the change: 09:00 local is 13:00 then 14:00 UTC
    times = [parse("cron(0 9 * * ? *)", ny).next_fire(ts(d, ny)) for d in ("2024-11-02T10:00:00",)]
    assert iso(times[0]) == "2024-11-03T14:00:00+0000"


def test_every_minute_through_the_repeated_hour_fires_each_wall_time_once() -> None:
    ny = "America/New_York"
    fired = series("cron(* * * * ? *)", "2024-11-03T00:58:00", 64, ny)
    assert len(fired) == len(set(fired)) == 64
    assert fired[0] == "2024-11-03T00:59:00-0400"
    assert fired[61] == "2024-11-03T02:00:00-0500"  # 01:00..01:59 once, then straight on


def test_at_is_local_to_its_time_zone() -> None:
    assert iso(parse("at(2024-07-01T12:00:00)", "Europe/Paris").next_fire(0)) == "2024-07-01T10:00:00+0000"


def test_rate_counts_from_its_anchor_and_ignores_the_time_zone() -> None:
    rate = parse("rate(1 hour)", "America/New_York")
    anchor = ts("2024-01-01T00:10:00")
    assert rate.next_fire(ts("2024-01-01T05:00:00"), anchor=anchor) == ts("2024-01-01T05:10:00")
    assert rate.next_fire(ts("2024-01-01T05:10:00"), anchor=anchor) == ts("2024-01-01T06:10:00")
    assert rate.next_fire(ts("2023-12-31T00:00:00"), anchor=anchor) == anchor  # a future StartDate


@pytest.mark.parametrize(
    ("expr", "tz", "message"),
    [
        ("", "UTC", "expected at("),
        ("every 5 minutes", "UTC", "expected at("),
        ("rate(1 minutes)", "UTC", "must be 'minute'"),
        ("rate(5 minute)", "UTC", "must be 'minutes'"),
        ("rate(0 minutes)", "UTC", "positive"),
        ("rate(-1 minutes)", "UTC", "expected rate"),
        ("rate(1 week)", "UTC", "unit"),
        ("rate(1.5 hours)", "UTC", "expected rate"),
        ("cron(* * * * *)", "UTC", "6 fields"),
        ("cron(0 12 * * * *)", "UTC", "exactly one of"),
        ("cron(0 12 ? * ? *)", "UTC", "exactly one of"),
        ("cron(60 * * * ? *)", "UTC", "between 0 and 59"),
        ("cron(0 24 * * ? *)", "UTC", "between 0 and 23"),
        ("cron(0 0 32 * ? *)", "UTC", "between 1 and 31"),
        ("cron(0 0 ? * 8 *)", "UTC", "between 1 and 7"),
        ("cron(0 0 ? * FOO *)", "UTC", "'FOO'"),
        ("cron(0 0 1 13 ? *)", "UTC", "between 1 and 12"),
        ("cron(0 0 1 * ? 1969)", "UTC", "between 1970 and 2199"),
        ("cron(0 10-8 * * ? *)", "UTC", "reversed"),
        ("cron(0/0 * * * ? *)", "UTC", "step"),
        ("cron(0 0 ? * 2#6 *)", "UTC", "between 1 and 5"),
        ("at(2024-02-30T00:00:00)", "UTC", "day is out of range"),
        ("at(2024-02-01 00:00:00)", "UTC", "expected at("),
        ("at(2024-02-01T00:00)", "UTC", "expected at("),
        ("rate(5 minutes)", "Mars/Olympus", "not a known time zone"),
        ("rate(5 minutes)", "../../etc/passwd", "not a known time zone"),
    ],
)
def test_invalid_expressions(expr: str, tz: str, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        parse(expr, tz)
    assert message in info.value.message
    assert info.value.status == 400


def test_names_are_case_insensitive() -> None:
    assert series("cron(0 0 ? jan sun 2024)", "2024-01-01T00:00:00", 1) == ["2024-01-07T00:00:00+0000"]
