"""Business calendar, SLA deadlines and escalation levels (pure, no I/O)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ingestd.procedure import (
    BusinessCalendar,
    CalendarConfig,
    CaseProgress,
    SlaPolicy,
    breaches,
    compute_deadlines,
    escalation_level_due,
    followup_due,
)

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ENGLAND = BusinessCalendar.from_config(CalendarConfig(subdivision="ENG"))
POLICY = SlaPolicy()

# Friday before the Late Summer Bank Holiday (Monday 2026-08-31, England).
FRIDAY = datetime(2026, 8, 28, 16, 0, tzinfo=LONDON)

# The snippet given to the lead for config.toml; it must parse and validate as written.
CONFIG_SNIPPET = """
[sla]                                   # service levels; every key names its unit
acknowledge_hours = 24                  # calendar hours (the auto-acknowledgment meets it)
urgent_acknowledge_hours = 2            # critical / rule fired (outages): calendar hours
investigate_business_days = 1           # assigned to someone within ...
urgent_investigate_business_hours = 4
resolve_business_days = 5
urgent_resolve_business_days = 1
followup_days = 2                       # satisfaction request after resolution
followup_clock = "calendar"             # calendar | business
escalate_level1_hours = 24              # supervisor: nobody picked the case up
escalate_level2_hours = 48              # department manager: still unresolved
escalate_level3_hours = 72              # senior management: still unresolved
escalation_clock = "calendar"           # calendar | business (hours count working time only)
serious_start_level = 2                 # critical or a triage rule fired: start at this level

[calendar]                              # when the support team works
country = "GB"                          # ISO code for the public-holiday calendar
subdivision = "ENG"                     # region: ENG, SCT, WLS, NIR; DE: BY, BE...; US: NY...
timezone = "Europe/London"              # IANA name; working hours are local wall-clock time
workdays = ["mon", "tue", "wed", "thu", "fri"]   # or 1-7, Monday = 1
work_start = "09:00"
work_end = "17:00"
extra_holidays = [2026-12-24, 2026-12-31]         # TOML dates or "YYYY-MM-DD" strings
"""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, zone: ZoneInfo = LONDON
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


# --- the bank-holiday weekend ---------------------------------------------------------------


def test_deadlines_over_bank_holiday_weekend() -> None:
    due = compute_deadlines(FRIDAY, urgent=False, policy=POLICY, calendar=ENGLAND)
    assert due.acknowledge_due == local(2026, 8, 29, 16, 0)  # Saturday: 24 calendar hours
    assert due.investigate_due == local(2026, 9, 1, 16, 0)  # Fri 1 h, Mon closed, Tue 7 h
    # Resolve: 5 business days = 40 business hours, counted by hand:
    #   Fri 28 Aug 16-17 = 1 h (1); Sat, Sun weekend; Mon 31 Aug bank holiday;
    #   Tue 1 Sep 8 h (9); Wed 2 8 h (17); Thu 3 8 h (25); Fri 4 8 h (33); Sat, Sun;
    #   Mon 7 Sep 09:00 + 7 h = 16:00 BST (40)  ->  2026-09-07 15:00 UTC.
    assert due.resolve_due == utc(2026, 9, 7, 15, 0)
    assert {d.tzinfo for d in (due.acknowledge_due, due.investigate_due, due.resolve_due)} == {UTC}


def test_urgent_deadlines_over_bank_holiday_weekend() -> None:
    due = compute_deadlines(FRIDAY, urgent=True, policy=POLICY, calendar=ENGLAND)
    assert due.acknowledge_due == local(2026, 8, 28, 18, 0)  # same day, 2 calendar hours
    assert due.investigate_due == local(2026, 9, 1, 12, 0)  # 4 h: Fri 1 h + Tue 3 h
    assert due.resolve_due == local(2026, 9, 1, 16, 0)  # 1 business day


def test_input_time_zone_does_not_matter() -> None:
    same_moment = datetime(2026, 8, 28, 11, 0, tzinfo=NEW_YORK)  # 16:00 in London
    assert compute_deadlines(same_moment, False, POLICY, ENGLAND) == compute_deadlines(
        FRIDAY, False, POLICY, ENGLAND
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ENGLAND.add_business_hours(datetime(2026, 8, 28, 16, 0), 1)


# --- calendar arithmetic --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (local(2026, 9, 8, 22, 0), local(2026, 9, 9, 17, 0)),  # Tuesday night
        (local(2026, 9, 9, 6, 0), local(2026, 9, 9, 17, 0)),  # before opening
        (local(2026, 9, 5, 10, 0), local(2026, 9, 7, 17, 0)),  # Saturday
        (local(2026, 9, 9, 17, 0), local(2026, 9, 10, 17, 0)),  # exactly at closing
        (local(2026, 9, 9, 9, 0), local(2026, 9, 9, 17, 0)),  # a full day ends at closing
    ],
)
def test_night_and_weekend_starts_count_from_next_opening(
    start: datetime, expected: datetime
) -> None:
    assert ENGLAND.add_business_days(start, 1) == expected


def test_is_business_time() -> None:
    assert ENGLAND.is_business_time(local(2026, 9, 1, 9, 0))
    assert not ENGLAND.is_business_time(local(2026, 9, 1, 17, 0))
    assert not ENGLAND.is_business_time(local(2026, 8, 31, 12, 0))  # bank holiday
    assert not ENGLAND.is_business_time(local(2026, 8, 29, 12, 0))  # Saturday
    assert ENGLAND.is_business_time(utc(2026, 9, 1, 8, 30))  # 09:30 BST


def test_german_regional_holiday() -> None:
    bavaria = BusinessCalendar.from_config(
        CalendarConfig(country="DE", subdivision="BY", timezone="Europe/Berlin")
    )
    berlin = BusinessCalendar.from_config(
        CalendarConfig(country="DE", subdivision="BE", timezone="Europe/Berlin")
    )
    wednesday = local(2026, 6, 3, 10, 0, zone=BERLIN)  # Thursday 4 June: Corpus Christi (BY)
    assert bavaria.add_business_days(wednesday, 1) == local(2026, 6, 5, 10, 0, zone=BERLIN)
    assert berlin.add_business_days(wednesday, 1) == local(2026, 6, 4, 10, 0, zone=BERLIN)


def test_us_state_holiday_and_lowercase_codes() -> None:
    new_york = BusinessCalendar.from_config(
        CalendarConfig(country="us", subdivision="ny", timezone="America/New_York")
    )
    assert not new_york.is_business_time(local(2026, 2, 12, 12, 0, zone=NEW_YORK))  # Lincoln
    assert new_york.is_business_time(local(2026, 2, 13, 12, 0, zone=NEW_YORK))


def test_extra_holidays_close_the_office() -> None:
    config = CalendarConfig.model_validate({"subdivision": "ENG", "extra_holidays": ["2026-12-24"]})
    closed = BusinessCalendar.from_config(config)
    wednesday = local(2026, 12, 23, 16, 0)
    # Wed 1 h; Thu 24 extra; Fri 25 Christmas; weekend; Mon 28 Boxing Day (observed); Tue 7 h.
    assert closed.add_business_days(wednesday, 1) == local(2026, 12, 29, 16, 0)
    assert ENGLAND.add_business_days(wednesday, 1) == local(2026, 12, 24, 16, 0)


def test_autumn_dst_week() -> None:
    # BST ends Sunday 2026-10-25; working hours stay 09:00-17:00 local wall time.
    friday = local(2026, 10, 23, 16, 0)  # 15:00 UTC
    due = compute_deadlines(friday, False, POLICY, ENGLAND)
    assert due.investigate_due == utc(2026, 10, 26, 16, 0)  # Mon 16:00 GMT
    assert due.resolve_due == utc(2026, 10, 30, 16, 0)  # Fri 16:00 GMT, 40 h later
    # Calendar hours are elapsed time: 24 h after Sat 12:00 BST is Sun 11:00 GMT.
    saturday = local(2026, 10, 24, 12, 0)
    assert compute_deadlines(saturday, False, POLICY, ENGLAND).acknowledge_due == local(
        2026, 10, 25, 11, 0
    )


def test_spring_dst_week() -> None:
    # BST starts Sunday 2026-03-29: Friday and Monday still count 8 hours each.
    start, end = local(2026, 3, 27, 9, 0), local(2026, 3, 30, 17, 0)
    assert ENGLAND.business_hours_between(start, end) == pytest.approx(16.0)
    assert ENGLAND.business_hours_between(end, start) == pytest.approx(-16.0)


def test_workdays_by_name_and_custom_hours() -> None:
    config = CalendarConfig.model_validate(
        {"workdays": ["Mon", "tuesday", 3, "sat"], "work_start": "08:00", "work_end": "12:30"}
    )
    assert config.workdays == (1, 2, 3, 6)
    short = BusinessCalendar.from_config(config)
    assert short.day_hours == 4.5
    # Wed 12:00 -> 0.5 h; Thu, Fri closed; Sat 08:00 + 4 h.
    assert short.add_business_days(local(2026, 9, 9, 12, 0), 1) == local(2026, 9, 12, 12, 0)


ZONES = st.sampled_from([UTC, LONDON, BERLIN, NEW_YORK])
STARTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=ZONES
)
HOURS = st.floats(min_value=0, max_value=300, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(start=STARTS, hours=HOURS)
def test_business_hours_round_trip(start: datetime, hours: float) -> None:
    end = ENGLAND.add_business_hours(start, hours)
    assert end.tzinfo is UTC
    assert end >= start
    assert ENGLAND.business_hours_between(start, end) == pytest.approx(hours, abs=1e-5)


@settings(max_examples=150, deadline=None)
@given(start=STARTS, first=HOURS, second=HOURS)
def test_add_business_hours_is_monotonic(start: datetime, first: float, second: float) -> None:
    low, high = sorted((first, second))
    assert ENGLAND.add_business_hours(start, low) <= ENGLAND.add_business_hours(start, high)


# --- escalation, follow-up and breaches -----------------------------------------------------

MONDAY = local(2026, 9, 7, 9, 0)


def level(hours: float, progress: CaseProgress, policy: SlaPolicy = POLICY) -> int:
    return escalation_level_due(MONDAY, MONDAY + timedelta(hours=hours), progress, policy, ENGLAND)


@pytest.mark.parametrize(
    ("hours", "expected"), [(0, 0), (23.9, 0), (24, 1), (47.9, 1), (48, 2), (72, 3), (500, 3)]
)
def test_unattended_case_climbs_the_matrix(hours: float, expected: int) -> None:
    assert level(hours, CaseProgress()) == expected


def test_assigned_case_skips_level1_but_not_level2() -> None:
    assert level(30, CaseProgress(assigned=True)) == 0
    assert level(48, CaseProgress(assigned=True)) == 2
    assert level(72, CaseProgress(assigned=True)) == 3


def test_serious_and_senior_cases_start_high() -> None:
    assert level(0, CaseProgress(serious=True)) == 2
    assert level(24, CaseProgress(serious=True)) == 2
    assert level(72, CaseProgress(serious=True)) == 3
    assert level(0, CaseProgress(senior=True)) == 3
    assert level(0, CaseProgress(serious=True), SlaPolicy(serious_start_level=3)) == 3


def test_resolved_case_stops_climbing() -> None:
    assert level(100, CaseProgress(resolved=True)) == 0
    assert level(100, CaseProgress(resolved=True, serious=True)) == 2


def test_business_escalation_clock() -> None:
    policy = SlaPolicy(
        escalation_clock="business",
        escalate_level1_hours=8,
        escalate_level2_hours=16,
        escalate_level3_hours=24,
    )
    tuesday_noon = local(2026, 9, 1, 12, 0)  # 4 business hours after FRIDAY 16:00
    assert escalation_level_due(FRIDAY, tuesday_noon, CaseProgress(), policy, ENGLAND) == 0
    tuesday_close = local(2026, 9, 1, 17, 0)  # 8 business hours
    assert escalation_level_due(FRIDAY, tuesday_close, CaseProgress(), policy, ENGLAND) == 1


def test_followup_due() -> None:
    assert followup_due(FRIDAY, POLICY, ENGLAND) == local(2026, 8, 30, 16, 0)
    business = SlaPolicy(followup_clock="business")
    assert followup_due(FRIDAY, business, ENGLAND) == local(2026, 9, 2, 16, 0)


def test_breaches() -> None:
    due = compute_deadlines(FRIDAY, False, POLICY, ENGLAND)
    now = local(2026, 9, 8, 12, 0)
    acknowledged, assigned = FRIDAY + timedelta(seconds=5), local(2026, 9, 2, 10, 0)
    assert breaches(due, acknowledged, assigned, None, now) == ["investigate", "resolve"]
    on_time = local(2026, 9, 7, 16, 0)  # exactly at the deadline is not late
    assert breaches(due, acknowledged, FRIDAY, on_time, now) == []
    assert breaches(due, None, None, None, FRIDAY) == []


# --- configuration --------------------------------------------------------------------------


def test_config_snippet_validates() -> None:
    data = tomllib.loads(CONFIG_SNIPPET)
    assert SlaPolicy.model_validate(data["sla"]) == SlaPolicy()
    calendar = CalendarConfig.model_validate(data["calendar"])
    assert calendar.extra_holidays == (date(2026, 12, 24), date(2026, 12, 31))
    assert calendar.workdays == (1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("model", "data", "key"),
    [
        (SlaPolicy, {"acknowlege_hours": 24}, "acknowlege_hours"),
        (SlaPolicy, {"resolve_business_days": -1}, "resolve_business_days"),
        (SlaPolicy, {"escalation_clock": "wall"}, "escalation_clock"),
        (CalendarConfig, {"time_zone": "Europe/London"}, "time_zone"),
        (CalendarConfig, {"timezone": "Europe/Lundon"}, "timezone"),
        (CalendarConfig, {"country": "XX"}, "country"),
        (CalendarConfig, {"workdays": ["funday"]}, "workdays"),
        (CalendarConfig, {"country": "DE", "subdivision": "XX"}, "subdivision"),
        (CalendarConfig, {"work_start": "18:00"}, "work_end"),
    ],
)
def test_bad_config_names_the_key(
    model: type[SlaPolicy | CalendarConfig], data: dict[str, object], key: str
) -> None:
    with pytest.raises(ValidationError, match=key):
        model.model_validate(data)


def test_escalation_thresholds_must_rise() -> None:
    with pytest.raises(ValidationError, match="escalate_level1_hours"):
        SlaPolicy(escalate_level1_hours=50)
