"""EventBridge Scheduler's schedule expressions: `rate(...)`, `cron(...)` and `at(...)` (pure).

`parse(expression, timezone)` validates once (ValidationException with the reason); `next_fire`
answers "the first firing strictly after this instant", so the scheduler never needs to know
which kind of expression it holds.

Semantics where EventBridge's documentation leaves room, and why:
- cron has six fields (minutes hours day-of-month month day-of-week year); exactly one of
  day-of-month / day-of-week is `?`. Day-of-week counts 1=SUN .. 7=SAT, as EventBridge does.
- cron is evaluated in the schedule's time zone. On a spring-forward day a local time that does
  not exist is skipped; on a fall-back day a repeated local time fires once, at its first
  occurrence (EventBridge Scheduler's documented behaviour for daylight saving time).
- rate(...) counts fixed periods from an anchor (StartDate, else the creation time) and ignores
  the time zone: a period is elapsed time, not wall-clock time.
- at(...) is a local time in the time zone; it fires once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bayou.errors import ValidationException

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MIN_YEAR, MAX_YEAR = 1970, 2199
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\(\s*(\d+)\s+([a-z]+)\s*\)")
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")
_CRON = re.compile(r"cron\((.*)\)")

DayMatcher = Callable[[int, int, int], bool]  # (year, month, day) -> fires that day


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int


@dataclass(frozen=True, slots=True)
class At:
    when: dt.datetime  # naive, local to the schedule's time zone


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: tuple[int, ...]
    day: DayMatcher  # day-of-month or day-of-week, whichever is not `?`


@dataclass(frozen=True, slots=True)
class ScheduleExpression:
    text: str
    kind: Rate | At | Cron
    tz: ZoneInfo

    @property
    def one_time(self) -> bool:
        return isinstance(self.kind, At)

    def next_fire(self, after: float, *, anchor: float | None = None) -> float | None:
        """The first firing strictly after `after` (epoch seconds), or None if there is none.

        `anchor` is where a rate's periods are counted from (default: `after`, so the first
        firing is one period later)."""
        kind = self.kind
        if isinstance(kind, Rate):
            start = after if anchor is None else anchor
            if start > after:
                return start
            periods = int((after - start) // kind.seconds) + 1
            return start + periods * kind.seconds
        if isinstance(kind, At):
            instant = kind.when.replace(tzinfo=self.tz).timestamp()
            return instant if instant > after else None
        return _next_cron(kind, self.tz, after)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationException(f"Invalid ScheduleExpressionTimezone: {name!r} is not a known time zone.") from exc


def parse(expression: str, timezone: str = "UTC") -> ScheduleExpression:
    """Validate an expression; ValidationException says what is wrong with it."""
    tz = zone(timezone or "UTC")
    text = expression.strip() if isinstance(expression, str) else ""
    if text.startswith("rate("):
        return ScheduleExpression(text, _parse_rate(text), tz)
    if text.startswith("at("):
        return ScheduleExpression(text, _parse_at(text), tz)
    if text.startswith("cron("):
        return ScheduleExpression(text, _parse_cron(text), tz)
    raise ValidationException(
        f"Invalid Schedule Expression {expression!r}: expected at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(fields)."
    )


def next_fire(expression: ScheduleExpression, after: float, *, anchor: float | None = None) -> float | None:
    return expression.next_fire(after, anchor=anchor)


# --- rate and at --------------------------------------------------------------------------------


def _parse_rate(text: str) -> Rate:
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValidationException(f"Invalid Schedule Expression {text!r}: expected rate(value unit).")
    value, unit = int(match.group(1)), match.group(2)
    base = unit[:-1] if unit.endswith("s") else unit
    if base not in _UNITS:
        raise ValidationException(f"Invalid Schedule Expression {text!r}: the unit must be minute(s), hour(s) or day(s).")
    if value <= 0:
        raise ValidationException(f"Invalid Schedule Expression {text!r}: the value must be a positive integer.")
    if (value == 1) != (unit == base):
        wanted = base if value == 1 else base + "s"
        raise ValidationException(f"Invalid Schedule Expression {text!r}: with {value} the unit must be '{wanted}'.")
    return Rate(value * _UNITS[base])


def _parse_at(text: str) -> At:
    match = _AT.fullmatch(text)
    if match is None:
        raise ValidationException(f"Invalid Schedule Expression {text!r}: expected at(yyyy-mm-ddThh:mm:ss).")
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        when = dt.datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ValidationException(f"Invalid Schedule Expression {text!r}: {exc}.") from exc
    return At(when)


# --- cron ---------------------------------------------------------------------------------------


def _parse_cron(text: str) -> Cron:
    match = _CRON.fullmatch(text)
    fields = match.group(1).split() if match else []
    if len(fields) != 6:
        raise ValidationException(
            f"Invalid Schedule Expression {text!r}: cron takes 6 fields "
            "(minutes hours day-of-month month day-of-week year)."
        )
    minute, hour, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ValidationException(
            f"Invalid Schedule Expression {text!r}: exactly one of day-of-month and day-of-week must be '?'."
        )
    try:
        return Cron(
            minutes=tuple(sorted(_values(minute, 0, 59, "minutes"))),
            hours=tuple(sorted(_values(hour, 0, 23, "hours"))),
            months=frozenset(_values(month, 1, 12, "month", MONTHS)),
            years=tuple(sorted(_values(year, MIN_YEAR, MAX_YEAR, "year"))),
            day=_day_of_week(dow) if dom == "?" else _day_of_month(dom),
        )
    except ValueError as exc:
        raise ValidationException(f"Invalid Schedule Expression {text!r}: {exc}.") from exc


def _number(token: str, low: int, high: int, what: str, names: tuple[str, ...] = ()) -> int:
    if token in names:
        return names.index(token) + low
    if not token.isdigit():
        raise ValueError(f"{token!r} is not a valid value for {what}")
    value = int(token)
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}, got {value}")
    return value


def _values(field: str, low: int, high: int, what: str, names: tuple[str, ...] = ()) -> set[int]:
    """`*`, `a`, `a-b`, `*/s`, `a/s`, `a-b/s` and comma lists of them."""
    out: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = _number(step_text, 1, high - low + 1 if high > low else 1, f"the step of {what}") if slash else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _number(a, low, high, what, names), _number(b, low, high, what, names)
            if start > end:
                raise ValueError(f"the range {base} of {what} is reversed")
        else:
            start = _number(base, low, high, what, names)
            end = high if slash else start
        out.update(range(start, end + 1, step))
    return out


def _aws_weekday(year: int, month: int, day: int) -> int:
    """1=SUN .. 7=SAT (Python's weekday() is 0=MON)."""
    return (dt.date(year, month, day).weekday() + 1) % 7 + 1


def _day_of_month(field: str) -> DayMatcher:
    if field == "L":
        return lambda y, m, d: d == calendar.monthrange(y, m)[1]
    if field == "LW":
        return lambda y, m, d: d == _nearest_weekday(y, m, calendar.monthrange(y, m)[1])
    if field.endswith("W"):
        target = _number(field[:-1], 1, 31, "day-of-month")
        return lambda y, m, d: target <= calendar.monthrange(y, m)[1] and d == _nearest_weekday(y, m, target)
    days = frozenset(_values(field, 1, 31, "day-of-month"))
    return lambda y, m, d: d in days


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday (MON-FRI) nearest to `day` without leaving the month (cron's `W`)."""
    last = calendar.monthrange(year, month)[1]
    weekday = _aws_weekday(year, month, day)
    if weekday == 7:  # SAT → Friday, or Monday when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 1:  # SUN → Monday, or Friday when it is the last day
        return day + 1 if day < last else day - 2
    return day


def _day_of_week(field: str) -> DayMatcher:
    if field == "L":
        return lambda y, m, d: _aws_weekday(y, m, d) == 7
    if "#" in field:
        a, _, b = field.partition("#")
        weekday, nth = _number(a, 1, 7, "day-of-week", DAYS), _number(b, 1, 5, "the # of day-of-week")
        return lambda y, m, d: _aws_weekday(y, m, d) == weekday and (d - 1) // 7 + 1 == nth
    if field.endswith("L"):
        weekday = _number(field[:-1], 1, 7, "day-of-week", DAYS)
        return lambda y, m, d: _aws_weekday(y, m, d) == weekday and d + 7 > calendar.monthrange(y, m)[1]
    days = frozenset(_values(field, 1, 7, "day-of-week", DAYS))
    return lambda y, m, d: _aws_weekday(y, m, d) in days


def _local_candidates(cron: Cron, start: dt.datetime) -> Iterator[dt.datetime]:
    """Matching local wall times at or after `start` (naive), ascending."""
    for year in cron.years:
        if year < start.year:
            continue
        for month in range(1, 13):
            if month not in cron.months or (year, month) < (start.year, start.month):
                continue
            for day in range(1, calendar.monthrange(year, month)[1] + 1):
                if (year, month, day) < (start.year, start.month, start.day) or not cron.day(year, month, day):
                    continue
                same_day = (year, month, day) == (start.year, start.month, start.day)
                for hour in cron.hours:
                    if same_day and hour < start.hour:
                        continue
                    for minute in cron.minutes:
                        if same_day and (hour, minute) < (start.hour, start.minute):
                            continue
                        yield dt.datetime(year, month, day, hour, minute)


def _next_cron(cron: Cron, tz: ZoneInfo, after: float) -> float | None:
    start = dt.datetime.fromtimestamp(after, tz).replace(tzinfo=None, second=0, microsecond=0, fold=0)
    for local in _local_candidates(cron, start):
        aware = local.replace(tzinfo=tz)  # fold=0: a repeated wall time means its first occurrence
        instant = aware.timestamp()
        if dt.datetime.fromtimestamp(instant, tz).replace(tzinfo=None) != local:
            continue  # skipped by a spring-forward transition
        if instant > after:
            return instant
    return None
