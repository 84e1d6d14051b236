"""Business calendars, full form: each case against an instant worked out by hand (in UTC).

Europe/Berlin is UTC+1 in winter (CET) and UTC+2 in summer (CEST); in 2026 the clocks jump from
02:00 to 03:00 on Sun 29 Mar and fall back from 03:00 to 02:00 on Sun 25 Oct.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from workflows.calendars import Calendar, to_utc
from workflows.holiday_files import load_holiday_file
from workflows.policy import PolicyError
from workflows.policy_files import default_policy_text, load_policy, parse_policy

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
H = 3600.0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def cal(**fields: object) -> Calendar:
    return Calendar.model_validate({"time_zone": "Europe/Berlin", **fields})


WEEKDAYS_8_18 = {d: ["08:00-18:00"] for d in ["mon", "tue", "wed", "thu", "fri"]}


# ---- windows within a day ------------------------------------------------------------------------


def test_lunch_break_is_not_counted() -> None:
    c = cal(week={"mon": ["08:00-12:00", "13:00-18:00"]})
    # Mon 23 Nov 2026 11:00 CET + 2h: 11:00-12:00, lunch, 13:00-14:00 CET = 13:00Z.
    assert c.add(berlin(2026, 11, 23, 11), 2 * H) == utc(2026, 11, 23, 13)
    assert c.elapsed(berlin(2026, 11, 23, 11), berlin(2026, 11, 23, 14)) == 2 * H


def test_budget_ending_at_closing_time_is_due_at_closing_time() -> None:
    c = cal(week={"mon": ["08:00-12:00", "13:00-18:00"], "tue": ["08:00-18:00"]})
    # 4h from Mon 08:00 ends at 12:00 (the lunch closing), not at 13:00; 9h ends at 18:00, not Tue 08:00.
    assert c.add(berlin(2026, 11, 23, 8), 4 * H) == utc(2026, 11, 23, 11)
    assert c.add(berlin(2026, 11, 23, 8), 9 * H) == utc(2026, 11, 23, 17)


def test_start_outside_working_time_counts_from_next_opening() -> None:
    c = cal(week={"mon": ["08:00-12:00", "13:00-18:00"]})
    # Sun 22 Nov 20:00 CET → Mon 08:00 + 1h = 09:00 CET = 08:00Z; from the lunch break: 13:00 + 30m.
    assert c.add(berlin(2026, 11, 22, 20), 1 * H) == utc(2026, 11, 23, 8)
    assert c.add(berlin(2026, 11, 23, 12, 20), 0.5 * H) == utc(2026, 11, 23, 12, 30)
    # Mon 18:30 → next Monday 08:00 + 1h (no other day works).
    assert c.add(berlin(2026, 11, 23, 18, 30), 1 * H) == utc(2026, 11, 30, 8)


def test_overnight_window_runs_into_the_next_day() -> None:
    c = cal(time_zone="Europe/London", week={"mon": ["22:00-06:00"], "tue": ["22:00-06:00"]})
    # London is UTC+0 in November. Mon 23 Nov 23:00 + 8h: 23:00-06:00 (7h), Tue 22:00 + 1h = Tue 23:00.
    assert c.add(utc(2026, 11, 23, 23), 8 * H) == utc(2026, 11, 24, 23)
    # Tue 03:00 is inside Monday's window (a lookup into the day before): + 2h = 05:00.
    assert c.add(utc(2026, 11, 24, 3), 2 * H) == utc(2026, 11, 24, 5)
    # Wednesday's morning belongs to Tuesday's window; Wednesday has none of its own.
    assert c.elapsed(utc(2026, 11, 25, 0), utc(2026, 11, 26, 0)) == 6 * H


def test_whole_day_window_and_adjacent_whole_days_merge() -> None:
    c = cal(week={"fri": ["09:00-17:00"], "sat": ["00:00-24:00"], "sun": ["00:00-24:00"]})
    # Fri 27 Nov 16:00 CET + 10h: 1h Friday, then Sat 00:00 CET + 9h = Sat 09:00 CET = 08:00Z.
    assert c.add(berlin(2026, 11, 27, 16), 10 * H) == utc(2026, 11, 28, 8)
    # Sat 00:00 + 30h runs through midnight into Sunday: Sun 06:00 CET = 05:00Z.
    assert c.add(berlin(2026, 11, 28, 0), 30 * H) == utc(2026, 11, 29, 5)
    assert c.elapsed(berlin(2026, 11, 28, 0), berlin(2026, 11, 30, 0)) == 48 * H


# ---- DST nights ---------------------------------------------------------------------------------


def test_spring_forward_window_is_as_long_as_the_local_clock_says() -> None:
    c = cal(week={"sun": ["00:00-06:00"], "mon": ["09:00-17:00"]})
    # Sun 29 Mar 2026: 00:00 CET (23:00Z Sat) to 06:00 CEST (04:00Z) is 5 real hours.
    assert c.elapsed(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == 5 * H
    assert c.add(berlin(2026, 3, 29, 0), 5 * H) == utc(2026, 3, 29, 4)
    # A 6th hour comes from Monday: 09:00 CEST + 1h = 10:00 CEST = 08:00Z.
    assert c.add(berlin(2026, 3, 29, 0), 6 * H) == utc(2026, 3, 30, 8)


def test_fall_back_window_is_as_long_as_the_local_clock_says() -> None:
    c = cal(week={"sun": ["00:00-06:00"]})
    # Sun 25 Oct 2026: 00:00 CEST (22:00Z Sat) to 06:00 CET (05:00Z) is 7 real hours.
    assert c.elapsed(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == 7 * H
    assert c.add(berlin(2026, 10, 25, 0), 7 * H) == utc(2026, 10, 25, 5)
    # 4h from midnight: 22:00Z + 4h = 02:00Z, the second 03:00 local... shown as 03:00 CET.
    assert c.add(berlin(2026, 10, 25, 0), 4 * H) == utc(2026, 10, 25, 2)


def test_window_that_does_not_exist_that_night_is_skipped() -> None:
    c = cal(week={"sun": ["02:00-03:00"]})
    # On 29 Mar 2026 02:00-03:00 never happens. From Sat 28 Mar, 30m lands on Sun 5 Apr 02:30 CEST = 00:30Z.
    assert c.day_intervals(date(2026, 3, 29)) == []
    assert c.add(berlin(2026, 3, 28, 12), 0.5 * H) == utc(2026, 4, 5, 0, 30)
    # The week before it exists: Sun 22 Mar 02:00 CET = 01:00Z, + 30m.
    assert c.add(berlin(2026, 3, 21, 12), 0.5 * H) == utc(2026, 3, 22, 1, 30)


def test_window_partly_in_the_gap_starts_when_the_clock_jumps() -> None:
    c = cal(week={"sun": ["02:30-04:00"]})
    # 29 Mar: 02:30 does not exist; the window runs from the jump (01:00Z = 03:00 CEST) to 04:00 CEST (02:00Z).
    assert c.day_intervals(date(2026, 3, 29)) == [(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))]
    assert to_utc(datetime(2026, 3, 29, 2, 30), BERLIN, first=True) == utc(2026, 3, 29, 1)


def test_new_york_dst_nights_both_directions() -> None:
    c = Calendar.model_validate({"time_zone": "America/New_York", "week": {"sun": ["00:00-24:00"]}})
    # Sun 8 Mar 2026 has 23 hours, Sun 1 Nov 2026 has 25.
    assert c.elapsed(utc(2026, 3, 7), utc(2026, 3, 10)) == 23 * H
    assert c.elapsed(utc(2026, 10, 31), utc(2026, 11, 3)) == 25 * H
    # 24 working hours from Sun 1 Nov 00:00 EDT (04:00Z): Sunday holds 25, so Sun 23:00 EST = Mon 04:00Z.
    assert c.add(datetime(2026, 11, 1, tzinfo=ZoneInfo("America/New_York")), 24 * H) == utc(2026, 11, 2, 4)


# ---- holidays and special days -------------------------------------------------------------------


def test_short_day_before_a_holiday() -> None:
    c = cal(week=WEEKDAYS_8_18, holidays=["2026-12-25", "2026-12-26"], special_days={"2026-12-24": ["08:00-12:00"]})
    # Thu 24 Dec 10:00 CET + 4h: 2h until the short day ends at 12:00; Fri 25 is a holiday, then the
    # weekend; Mon 28 Dec 08:00 + 2h = 10:00 CET = 09:00Z.
    assert c.add(berlin(2026, 12, 24, 10), 4 * H) == utc(2026, 12, 28, 9)
    # Exactly 2h ends at the short day's closing time.
    assert c.add(berlin(2026, 12, 24, 10), 2 * H) == utc(2026, 12, 24, 11)


def test_holiday_declared_a_working_day() -> None:
    c = cal(week=WEEKDAYS_8_18, holidays=["2026-12-25"], special_days={"2026-12-25": ["10:00-14:00"]})
    # Thu 24 Dec 17:00 + 3h: 1h Thursday, then Fri 25 (a holiday, but declared working 10-14) 10:00 + 2h = 12:00 CET.
    assert c.add(berlin(2026, 12, 24, 17), 3 * H) == utc(2026, 12, 25, 11)
    # A Sunday can be a working day too.
    sunday = cal(week=WEEKDAYS_8_18, special_days={"2026-12-27": ["10:00-14:00"]})
    assert sunday.add(berlin(2026, 12, 26, 12), 1 * H) == utc(2026, 12, 27, 10)


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//holidays//EN
BEGIN:VEVENT
UID:xmas@test
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20261225
DTEND;VALUE=DATE:20261227
SUMMARY:Weihnachten (two days)
END:VEVENT
BEGIN:VEVENT
UID:newyear@test
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20270101
RRULE:FREQ=YEARLY
SUMMARY:Neujahr
END:VEVENT
END:VCALENDAR
"""


def ics_policy(tmp_path: Path, calendar: str) -> Path:
    (tmp_path / "holidays").mkdir(exist_ok=True)
    (tmp_path / "holidays" / "de.ics").write_text(ICS)
    text = default_policy_text().replace("[severities.critical]", calendar + "\n[severities.critical]")
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


EU = """[calendars.support-eu]
time_zone = "Europe/Berlin"
week = { mon = ["08:00-18:00"], tue = ["08:00-18:00"], wed = ["08:00-18:00"], thu = ["08:00-18:00"], fri = ["08:00-18:00"] }
holiday_files = ["holidays/de.ics"]
"""  # noqa: E501 (a TOML inline table is one line)


def test_ics_holidays_are_read_at_load_time_relative_to_the_policy(tmp_path: Path) -> None:
    policy = load_policy(ics_policy(tmp_path, EU))
    c = policy.calendars["support-eu"]
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1), date(2028, 1, 1)} <= set(c.file_holidays)
    # Thu 24 Dec 17:00 + 2h: 1h Thursday, Fri 25 is an ICS holiday, Mon 28 08:00 + 1h = 09:00 CET = 08:00Z.
    assert c.add(berlin(2026, 12, 24, 17), 2 * H) == utc(2026, 12, 28, 8)
    # Thu 31 Dec 17:30 + 1h: Fri 1 Jan 2027 (recurring ICS holiday) is skipped: Mon 4 Jan 08:30 CET.
    assert c.add(berlin(2026, 12, 31, 17, 30), 1 * H) == utc(2027, 1, 4, 7, 30)
    # The policy that enters a workflow carries dates, not a path to read: it round-trips as data.
    again = type(policy).model_validate_json(policy.model_dump_json())
    assert again.calendars["support-eu"].add(berlin(2026, 12, 24, 17), 2 * H) == utc(2026, 12, 28, 8)


def test_holiday_file_parser_multi_day_and_timed_events(tmp_path: Path) -> None:
    path = tmp_path / "h.ics"
    path.write_text(ICS)
    days = load_holiday_file(path)
    assert days[:2] == [date(2026, 12, 25), date(2026, 12, 26)]
    assert date(2026, 12, 27) not in days  # DTEND is exclusive


# ---- the policy's calendar keys and their errors ------------------------------------------------


def with_calendar(snippet: str, severity: str = "") -> str:
    text = default_policy_text().replace("[severities.critical]", snippet + "\n[severities.critical]", 1)
    if severity:
        text = text.replace('[severities.high]\nclock = "wall"', f"[severities.high]\n{severity}", 1)
    return text


def error_of(text: str, tmp_path: Path | None = None) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.toml", tmp_path)
    assert info.value.__cause__ is None
    return str(info.value)


def test_severity_names_its_calendar() -> None:
    policy = parse_policy(
        with_calendar(EU.replace('holiday_files = ["holidays/de.ics"]\n', ""), 'calendar = "support-eu"'), "p.toml"
    )
    from workflows.policy import Severity

    assert policy.deadlines(Severity.HIGH).clock == "business"
    # High's 1h acknowledge from Mon 23 Nov 17:30 CET: 30m Monday + 30m Tuesday from 08:00 = 07:30Z.
    assert policy.clock(Severity.HIGH).add(berlin(2026, 11, 23, 17, 30), H) == utc(2026, 11, 24, 7, 30)
    assert policy.zone(Severity.HIGH) == BERLIN


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            '[calendars.eu]\ntime_zone = "Europe/Berlin"\nweek = { mon = ["08:00-12:00", "11:00-18:00"] }',
            "p.toml: calendars.eu.week.mon: windows 08:00-12:00 and 11:00-18:00 overlap",
        ),
        (
            '[calendars.eu]\nweek = { mon = ["18:00-13:00"] }',
            "p.toml: calendars.eu.week.mon: window '18:00-13:00' ends before it starts",
        ),
        (
            '[calendars.eu]\nweek = { mon = ["09:00-08:00"] }',
            "p.toml: calendars.eu.week.mon: window '09:00-08:00' ends before it starts",
        ),
        ('[calendars.eu]\nweek = { mon = ["9-17"] }', "p.toml: calendars.eu.week.mon: invalid window '9-17'"),
        (
            '[calendars.eu]\nweek = { mon = ["22:00-06:00"], tue = ["05:00-09:00"] }',
            "p.toml: calendars.eu: week: mon 22:00-06:00 runs into tue 05:00-09:00 (windows overlap)",
        ),
        (
            "[calendars.eu]\nweek = {}\nholidays = [2026-12-25]",
            "p.toml: calendars.eu: the calendar has no working time at all",
        ),
        ('[calendars.eu]\nweek = { funday = ["09:00-17:00"] }', "p.toml: calendars.eu.week: unknown day 'funday'"),
        (
            '[calendars.eu]\ntime_zone = "Mars/Olympus"\nweek = { mon = ["09:00-17:00"] }',
            "p.toml: calendars.eu.time_zone: unknown time zone 'Mars/Olympus'",
        ),
        (
            '[calendars.eu]\nweek = { mon = ["09:00-17:00"] }\nspecial_days = { 2026-12-24 = ["11:00-10:00"] }',
            "p.toml: calendars.eu.special_days.2026-12-24: window '11:00-10:00' ends before it starts",
        ),
        (
            '[calendars.eu]\nweek = { mon = ["09:00-17:00"] }\nopening = "09:00"',
            "p.toml: calendars.eu.opening: unknown key",
        ),
    ],
)
def test_calendar_errors_name_the_key_and_reason(snippet: str, expected: str) -> None:
    assert expected in error_of(with_calendar(snippet))


def test_unknown_calendar_and_contradicting_clock() -> None:
    assert "severities.high.calendar: unknown calendar 'support-us' (defined in [calendars]: eu)" in error_of(
        with_calendar('[calendars.eu]\nweek = { mon = ["09:00-17:00"] }', 'calendar = "support-us"')
    )
    assert 'p.toml: severities.high: calendar and clock = "wall" contradict' in error_of(
        with_calendar('[calendars.eu]\nweek = { mon = ["09:00-17:00"] }', 'clock = "wall"\ncalendar = "eu"')
    )


def test_unknown_ics_file_is_named(tmp_path: Path) -> None:
    message = error_of(
        with_calendar('[calendars.eu]\nweek = { mon = ["09:00-17:00"] }\nholiday_files = ["holidays/nl.ics"]'), tmp_path
    )
    assert message.startswith("p.toml: calendars.eu.holiday_files.0: cannot read ")
    assert "holidays/nl.ics: No such file or directory" in message
    (tmp_path / "bad.ics").write_text("this is not a calendar")
    assert "calendars.eu.holiday_files.0: " in error_of(
        with_calendar('[calendars.eu]\nweek = { mon = ["09:00-17:00"] }\nholiday_files = ["bad.ics"]'), tmp_path
    )


def test_windows_listing_in_the_calendar_zone() -> None:
    c = cal(week={"mon": ["08:00-12:00", "13:00-18:00"], "sun": ["22:00-06:00"]})
    listing = c.windows_between(date(2026, 11, 22), 2)
    assert [(d, [(s.isoformat(), e.isoformat()) for s, e in ws]) for d, ws in listing] == [
        (date(2026, 11, 22), [("2026-11-22T22:00:00+01:00", "2026-11-23T06:00:00+01:00")]),
        (
            date(2026, 11, 23),
            [
                ("2026-11-23T08:00:00+01:00", "2026-11-23T12:00:00+01:00"),
                ("2026-11-23T13:00:00+01:00", "2026-11-23T18:00:00+01:00"),
            ],
        ),
    ]


def test_add_and_elapsed_agree_across_forms() -> None:
    c = cal(
        week={"mon": ["08:00-12:00", "13:00-18:00"], "wed": ["22:00-06:00"], "sat": ["00:00-24:00"]},
        holidays=["2026-12-02"],
        special_days={"2026-12-03": ["10:00-11:00"]},
    )
    start = berlin(2026, 11, 30, 7)
    for hours in [0.5, 1, 4, 4.5, 9, 10, 14, 20, 33, 60]:
        due = c.add(start, hours * H)
        assert c.elapsed(start, due) == pytest.approx(hours * H)
        assert c.elapsed(start, due - timedelta(seconds=1)) < hours * H
