"""Business time: when the support team is open, and how long a deadline takes to fall due.

SLA steps such as "investigate within 1 business day" only count hours when the team works:
working days, working hours, and not on the public holidays of the configured country and
region. Everything here is pure: datetimes in any time zone go in, UTC datetimes come out.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A calendar closed for this many days in a row has no business time left to count.
_MAX_CLOSED_DAYS = 3660
_LONDON = ZoneInfo("Europe/London")


def _weekday(value: int | str) -> int:
    """ISO weekday (Monday = 1) from a number or an English day name ("Mon", "monday")."""
    if isinstance(value, str):
        name = value.strip().lower()
        for number, day in enumerate(_DAY_NAMES, start=1):
            if name in (day[:3], day):
                return number
        raise ValueError(f"unknown weekday name {value!r}")
    if isinstance(value, int) and 1 <= value <= 7:
        return value
    raise ValueError(f"weekday {value!r} is not 1 (Monday) to 7 (Sunday) or a day name")


def _country_holidays(country: str, subdivision: str | None) -> Any:
    """The `holidays` calendar; years are filled in lazily on first lookup."""
    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        if subdivision is None or subdivision == subdivision.upper():
            raise
        return holidays.country_holidays(country, subdiv=subdivision.upper())


class CalendarConfig(BaseModel):
    """The `[calendar]` section of config.toml: when the support team is at work."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = "GB"
    subdivision: str | None = None
    timezone: str = "Europe/London"
    workdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    work_start: time = time(9, 0)
    work_end: time = time(17, 0)
    extra_holidays: tuple[date, ...] = ()

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value.upper() not in holidays.list_supported_countries():
            raise ValueError(f"no holiday calendar for country {value!r} (use an ISO code: GB, DE)")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("workdays", mode="before")
    @classmethod
    def _parse_workdays(cls, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("workdays must be a non-empty list of 1-7 or day names")
        return tuple(sorted({_weekday(day) for day in value}))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.work_end <= self.work_start:
            raise ValueError("work_end must be later than work_start")
        if self.subdivision is not None:
            try:
                _country_holidays(self.country, self.subdivision)
            except NotImplementedError as exc:
                raise ValueError(f"subdivision: {exc}") from exc
        return self


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: give a time zone")
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days, hours and holidays of one support team, in its own time zone.

    Working hours are local wall-clock times; durations are real elapsed time, so a working
    day is 8 hours long on a DST change day too. `closed` is anything that answers
    `date in closed` (a `holidays` calendar, or a plain set in tests).
    """

    zone: ZoneInfo = _LONDON
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    work_start: time = time(9, 0)
    work_end: time = time(17, 0)
    closed: Container[date] = field(default_factory=frozenset, compare=False, repr=False)
    extra_closed: frozenset[date] = frozenset()

    @classmethod
    def from_config(cls, config: CalendarConfig) -> BusinessCalendar:
        return cls(
            zone=ZoneInfo(config.timezone),
            workdays=frozenset(config.workdays),
            work_start=config.work_start,
            work_end=config.work_end,
            closed=_country_holidays(config.country, config.subdivision),
            extra_closed=frozenset(config.extra_holidays),
        )

    @property
    def day_hours(self) -> float:
        """Length of one working day in hours (work_end - work_start)."""
        start = datetime.combine(date.min, self.work_start)
        return (datetime.combine(date.min, self.work_end) - start).total_seconds() / 3600

    def is_open_day(self, day: date) -> bool:
        """True on a working weekday that is neither a holiday nor an extra closed date."""
        return (
            day.isoweekday() in self.workdays
            and day not in self.extra_closed
            and day not in self.closed
        )

    def is_business_time(self, dt: datetime) -> bool:
        """True when `dt` falls in working hours [start, end) of an open day."""
        moment = _require_aware(dt)
        window = self._window(moment.astimezone(self.zone).date())
        return window is not None and window[0] <= moment < window[1]

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of business time after `start` (UTC).

        A start outside working hours begins counting at the next opening; a deadline that
        uses up a day exactly falls at that day's closing time, not the next opening.
        """
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        moment = _require_aware(start)
        for opens, closes in self._windows_from(moment):
            begin = max(opens, moment)
            if remaining <= closes - begin:
                return begin + remaining
            remaining -= closes - begin
        raise AssertionError("unreachable: _windows_from is endless or raises")

    def add_business_days(self, start: datetime, days: float) -> datetime:
        """`days` working-day lengths of business time after `start` (UTC).

        One business day is work_end - work_start of business time (8 h by default), counted
        from `start` itself: Friday 16:00 + 1 day is the next open day's 16:00.
        """
        return self.add_business_hours(start, days * self.day_hours)

    def business_hours_between(self, a: datetime, b: datetime) -> float:
        """Business hours from `a` to `b`; negative when `b` is before `a`."""
        first, last = _require_aware(a), _require_aware(b)
        if last < first:
            return -self.business_hours_between(b, a)
        total = timedelta()
        for opens, closes in self._windows_from(first):
            if opens >= last:
                break
            total += min(closes, last) - max(opens, first)
        return total.total_seconds() / 3600

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """Opening and closing of `day` in UTC, or None when closed."""
        if not self.is_open_day(day):
            return None
        opens = datetime.combine(day, self.work_start, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.work_end, tzinfo=self.zone).astimezone(UTC)
        return (opens, closes) if opens < closes else None

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Every working window that ends after `moment`, in order, without end."""
        day = moment.astimezone(self.zone).date()
        closed_run = 0
        while closed_run < _MAX_CLOSED_DAYS:
            window = self._window(day)
            day += timedelta(days=1)
            if window is None:
                closed_run += 1
            elif window[1] > moment:
                closed_run = 0
                yield window
        raise ValueError(f"calendar has no working time for {_MAX_CLOSED_DAYS} days")
