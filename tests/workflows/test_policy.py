"""Pure unit tests for the recovery policy (durations, loading, validation messages, business
calendar, clocks, severities) and for exact money. No Temporal server is needed."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from workflows.durations import format_duration, parse_duration
from workflows.money import MAX_AMOUNT, Money, parse_amount, parse_currency
from workflows.policy import BusinessCalendar, Clock, PolicyError, Severity
from workflows.policy_files import default_policy_text, load_policy, parse_policy

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
HOUR = 3600.0


def ny_calendar(*holidays: date) -> BusinessCalendar:
    return BusinessCalendar(
        time_zone="America/New_York", working_hours=("09:00", "17:00"), working_days=WEEKDAYS, holidays=list(holidays)
    )


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def replaced(old: str, new: str) -> str:
    """The default policy text with one exact, unique snippet replaced."""
    text = default_policy_text()
    assert text.count(old) == 1, f"snippet must occur exactly once: {old!r}"
    return text.replace(old, new)


def policy_error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "test policy")
    error = info.value
    # One clear error: no chained exception, no traceback text, no pydantic boilerplate.
    assert error.__cause__ is None and error.__suppress_context__
    message = str(error)
    assert "Traceback" not in message
    assert "errors.pydantic.dev" not in message
    assert message.startswith("test policy: ")
    return message


def lines_mentioning(message: str, key: str) -> list[str]:
    return [line for line in message.splitlines() if f": {key}: " in line]


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("1h30m", timedelta(hours=1, minutes=30)),
    ],
)
def test_duration_parses_units_and_combinations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_duration_tolerates_surrounding_and_inner_spaces() -> None:
    assert parse_duration(" 1h 30m ") == timedelta(hours=1, minutes=30)


def test_duration_passes_timedelta_through_unchanged() -> None:
    assert parse_duration(timedelta(minutes=5)) == timedelta(minutes=5)


@pytest.mark.parametrize("text", ["4x", "", "   ", "h", "4", "1.5h", "h4", "4h!", "4hx"])
def test_duration_rejects_malformed_text_with_invalid_duration(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "0m0s"])
def test_duration_rejects_zero_length(text: str) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration(text)


def test_duration_rejects_negative() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("-5m")


@pytest.mark.parametrize("value", [None, 4, 4.0, ["4h"]])
def test_duration_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=4), "4h"),
        (timedelta(days=3), "3d"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration_writes_canonical_text(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize("text", ["30s", "15m", "4h", "3d", "1h30m", "2d5h7m9s", "90m", "24h"])
def test_format_duration_round_trips_through_parse(text: str) -> None:
    delta = parse_duration(text)
    assert parse_duration(format_duration(delta)) == delta


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(min_value=1, max_value=400 * 86400))
def test_format_duration_round_trips_any_whole_seconds(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


# --- loading ---------------------------------------------------------------------------------


def test_packaged_default_policy_loads_when_no_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOVERY_POLICY", raising=False)
    policy = load_policy()
    assert policy.name == "default"
    assert set(policy.severities) == set(Severity)
    assert policy.calendar.time_zone == "America/New_York"
    assert policy.deadlines(Severity.CRITICAL).acknowledge == timedelta(minutes=15)
    assert policy.limit_of("agent", "USD") == Decimal("50.00")
    assert policy.approval_limit_of("team-lead", "EUR") == Decimal("1000.00")
    assert policy.approval_limit_of("agent", "USD") is None


def test_default_policy_uses_business_clock_for_normal_and_wall_clock_for_critical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RECOVERY_POLICY", raising=False)
    policy = load_policy()
    friday_late = ny(2026, 10, 16, 16, 30)
    assert policy.clock(Severity.CRITICAL).add(friday_late, 2 * HOUR) == friday_late + timedelta(hours=2)
    assert policy.clock(Severity.NORMAL).add(friday_late, 2 * HOUR) == ny(2026, 10, 19, 10, 30)


def test_recovery_policy_env_var_selects_another_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    custom = tmp_path / "custom.toml"
    custom.write_text(replaced('name = "default"', 'name = "custom-ops"'))
    monkeypatch.setenv("RECOVERY_POLICY", str(custom))
    assert load_policy().name == "custom-ops"


def test_explicit_path_wins_over_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file, explicit = tmp_path / "env.toml", tmp_path / "explicit.toml"
    env_file.write_text(replaced('name = "default"', 'name = "from-env"'))
    explicit.write_text(replaced('name = "default"', 'name = "explicit"'))
    monkeypatch.setenv("RECOVERY_POLICY", str(env_file))
    assert load_policy(explicit).name == "explicit"


def test_nonexistent_policy_file_gives_clear_error_with_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "policy.toml"
    with pytest.raises(PolicyError) as info:
        load_policy(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "cannot read policy file" in message
    assert "Traceback" not in message
    assert info.value.__cause__ is None


def test_nonexistent_policy_file_from_env_var_names_the_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    monkeypatch.setenv("RECOVERY_POLICY", str(missing))
    with pytest.raises(PolicyError, match=re.escape(str(missing))):
        load_policy()


def test_errors_in_a_policy_file_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(replaced('fix = "1d"', 'fix = "2x"'))
    with pytest.raises(PolicyError) as info:
        load_policy(broken)
    assert str(info.value).startswith(f"{broken}: severities.high.fix: ")


# --- validation messages ---------------------------------------------------------------------


def test_bad_duration_names_the_key_and_says_invalid_duration() -> None:
    message = policy_error(replaced('fix = "1d"', 'fix = "2x"'))
    assert "severities.high.fix" in message
    assert "invalid duration" in message
    assert "'2x'" in message
    assert len(message.splitlines()) == 1


def test_typo_in_optional_key_is_one_unknown_key_message() -> None:
    message = policy_error(replaced('default_severity = "normal"', 'defualt_severity = "normal"'))
    assert message == "test policy: defualt_severity: unknown key (check the spelling)"


def test_typo_in_required_key_names_the_unknown_key_path() -> None:
    text = replaced('clock = "wall"\nacknowledge = "1h"', 'clock = "wall"\nacknowlege = "1h"')
    message = policy_error(text)
    unknown = lines_mentioning(message, "severities.high.acknowlege")
    assert len(unknown) == 1
    assert "unknown key" in unknown[0]
    # The misspelt key also leaves the real key unset; that is reported once, on its own line.
    missing = lines_mentioning(message, "severities.high.acknowledge")
    assert len(missing) == 1
    assert "required key is missing" in missing[0]
    assert len(message.splitlines()) == 2


def test_missing_severity_names_it() -> None:
    text = default_policy_text()
    without_low = re.sub(r"\[severities\.low\].*?(?=\[escalation\])", "", text, flags=re.S)
    assert without_low != text
    message = policy_error(without_low)
    assert "severities: missing low" in message
    assert len(message.splitlines()) == 1


def test_unknown_severity_key_is_refused() -> None:
    message = policy_error(replaced("[severities.low]", "[severities.urgent]"))
    assert message == ("test policy: severities.urgent.[key]: Input should be 'critical', 'high', 'normal' or 'low'")


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "America", "Etc", "", "../etc/passwd"])
def test_unknown_time_zone_names_calendar_time_zone(zone: str) -> None:
    message = policy_error(replaced('time_zone = "America/New_York"', f'time_zone = "{zone}"'))
    assert message.startswith("test policy: calendar.time_zone: unknown time zone")
    assert len(message.splitlines()) == 1


def test_invalid_toml_says_not_valid_toml() -> None:
    message = policy_error(replaced('name = "default"', 'name = "default'))
    assert "not valid TOML" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("fraction", ["1.5", "0", "1", "-0.1"])
def test_warning_fraction_outside_zero_and_one_names_escalation_warnings(fraction: str) -> None:
    message = policy_error(replaced("warnings = [0.5, 0.75]", f"warnings = [0.5, {fraction}]"))
    assert "escalation.warnings" in message
    assert "between 0 and 1" in message
    assert len(message.splitlines()) == 1


def test_float_amount_in_roles_is_refused() -> None:
    message = policy_error(
        replaced(
            'limit = { USD = "50.00", EUR = "50.00", GBP = "40.00" }',
            'limit = { USD = 50.5, EUR = "50.00", GBP = "40.00" }',
        )
    )
    assert "roles.agent.limit.USD" in message
    assert "float" in message
    assert len(message.splitlines()) == 1


def test_unknown_currency_in_roles_is_refused() -> None:
    message = policy_error(
        replaced('limit = { USD = "50.00", EUR = "50.00", GBP = "40.00" }', 'limit = { XYZ = "50.00" }')
    )
    assert "roles.agent.limit" in message
    assert "unknown currency 'XYZ'" in message


def test_lowercase_currency_in_roles_is_normalised() -> None:
    policy = parse_policy(
        replaced('limit = { USD = "50.00", EUR = "50.00", GBP = "40.00" }', 'limit = { usd = "50.00" }')
    )
    assert policy.limit_of("agent", "USD") == Decimal("50.00")


def test_assignee_role_must_be_a_known_role() -> None:
    message = policy_error(replaced('assignee_role = "agent"', 'assignee_role = "intern"'))
    assert "assignee_role 'intern' is not one of roles" in message


def test_empty_root_causes_are_refused() -> None:
    text = re.sub(r"root_causes = \[.*?\]", "root_causes = []", default_policy_text(), flags=re.S)
    assert "root_causes: list at least one root cause" in policy_error(text)


def test_working_hours_that_end_before_they_start_are_refused() -> None:
    message = policy_error(replaced('working_hours = ["09:00", "17:00"]', 'working_hours = ["17:00", "09:00"]'))
    assert "calendar" in message
    assert "start before they end" in message


def test_working_hours_with_seconds_are_refused_not_rounded() -> None:
    # The arithmetic keeps working hours to the minute: a file asking for seconds is told so.
    message = policy_error(replaced('working_hours = ["09:00", "17:00"]', 'working_hours = ["09:00:30", "17:00"]'))
    assert "calendar.working_hours: give whole minutes (HH:MM)" in message


def test_unknown_working_day_is_refused() -> None:
    message = policy_error(
        replaced('working_days = ["mon", "tue", "wed", "thu", "fri"]', 'working_days = ["mon", "xyz"]')
    )
    assert "calendar.working_days" in message


def test_several_problems_give_one_line_each() -> None:
    text = replaced('fix = "1d"', 'fix = "2x"').replace("warnings = [0.5, 0.75]", "warnings = [1.5]")
    message = policy_error(text)
    lines = message.splitlines()
    assert len(lines) == 2
    assert any("severities.high.fix" in line and "invalid duration" in line for line in lines)
    assert any("escalation.warnings" in line for line in lines)


def test_warnings_are_sorted_and_deduplicated() -> None:
    policy = parse_policy(replaced("warnings = [0.5, 0.75]", "warnings = [0.75, 0.5, 0.5]"))
    assert policy.escalation.warnings == [0.5, 0.75]


def test_durations_serialise_back_to_policy_text() -> None:
    policy = parse_policy(default_policy_text())
    dumped = policy.model_dump(mode="json")
    assert dumped["severities"]["critical"]["acknowledge"] == "15m"
    assert dumped["roles"]["agent"]["limit"]["USD"] == "50.00"


# --- business calendar -----------------------------------------------------------------------


def test_friday_afternoon_two_business_hours_are_due_monday_morning() -> None:
    due = ny_calendar().add(ny(2026, 10, 16, 16, 30), 2 * HOUR)
    assert due == ny(2026, 10, 19, 10, 30)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 10, 19, 10, 30)


def test_spring_forward_weekend_keeps_local_wall_time_and_is_65_real_hours() -> None:
    start = ny(2026, 3, 6, 16, 30)
    assert start.utcoffset() == timedelta(hours=-5)  # EST
    due = ny_calendar().add(start, 2 * HOUR)
    local = due.astimezone(NY)
    assert local.replace(tzinfo=None) == datetime(2026, 3, 9, 10, 30)
    assert local.utcoffset() == timedelta(hours=-4)  # EDT
    assert due - start == timedelta(hours=65)


def test_fall_back_weekend_keeps_local_wall_time_and_is_67_real_hours() -> None:
    start = ny(2026, 10, 30, 16, 30)
    assert start.utcoffset() == timedelta(hours=-4)  # EDT
    due = ny_calendar().add(start, 2 * HOUR)
    local = due.astimezone(NY)
    assert local.replace(tzinfo=None) == datetime(2026, 11, 2, 10, 30)
    assert local.utcoffset() == timedelta(hours=-5)  # EST
    assert due - start == timedelta(hours=67)


def test_monday_holiday_pushes_friday_afternoon_budget_to_tuesday() -> None:
    due = ny_calendar(date(2026, 10, 19)).add(ny(2026, 10, 16, 16, 30), 2 * HOUR)
    assert due == ny(2026, 10, 20, 10, 30)


def test_start_before_opening_hours_counts_from_opening() -> None:
    assert ny_calendar().add(ny(2026, 10, 14, 7, 0), 2 * HOUR) == ny(2026, 10, 14, 11, 0)


def test_start_after_closing_rolls_to_next_working_day() -> None:
    assert ny_calendar().add(ny(2026, 10, 14, 18, 0), 2 * HOUR) == ny(2026, 10, 15, 11, 0)


def test_start_friday_evening_rolls_to_monday() -> None:
    assert ny_calendar().add(ny(2026, 10, 16, 18, 0), 2 * HOUR) == ny(2026, 10, 19, 11, 0)


def test_start_on_saturday_rolls_to_monday() -> None:
    assert ny_calendar().add(ny(2026, 10, 17, 12, 0), 2 * HOUR) == ny(2026, 10, 19, 11, 0)


def test_budget_ending_exactly_at_closing_is_due_at_closing() -> None:
    assert ny_calendar().add(ny(2026, 10, 14, 9, 0), 8 * HOUR) == ny(2026, 10, 14, 17, 0)


def test_multi_day_budget_spans_whole_working_days() -> None:
    # 40 business hours from Monday 09:00 is the whole working week.
    assert ny_calendar().add(ny(2026, 10, 12, 9, 0), 40 * HOUR) == ny(2026, 10, 16, 17, 0)


def test_add_accepts_start_in_another_zone() -> None:
    start_utc = ny(2026, 10, 16, 16, 30).astimezone(UTC)
    assert ny_calendar().add(start_utc, 2 * HOUR) == ny(2026, 10, 19, 10, 30)


def test_elapsed_across_weekend_inverts_add() -> None:
    assert ny_calendar().elapsed(ny(2026, 10, 16, 16, 30), ny(2026, 10, 19, 10, 30)) == 2 * HOUR


def test_elapsed_across_holiday_skips_it() -> None:
    calendar = ny_calendar(date(2026, 10, 19))
    assert calendar.elapsed(ny(2026, 10, 16, 16, 30), ny(2026, 10, 20, 10, 30)) == 2 * HOUR


def test_elapsed_across_dst_change_counts_working_hours_only() -> None:
    assert ny_calendar().elapsed(ny(2026, 3, 6, 16, 30), ny(2026, 3, 9, 10, 30)) == 2 * HOUR
    assert ny_calendar().elapsed(ny(2026, 10, 30, 16, 30), ny(2026, 11, 2, 10, 30)) == 2 * HOUR


def test_elapsed_within_one_working_day() -> None:
    assert ny_calendar().elapsed(ny(2026, 10, 14, 10, 0), ny(2026, 10, 14, 12, 15)) == 2.25 * HOUR


def test_elapsed_outside_working_hours_is_zero() -> None:
    assert ny_calendar().elapsed(ny(2026, 10, 16, 17, 30), ny(2026, 10, 19, 8, 59)) == 0.0


def test_elapsed_with_end_before_start_is_zero() -> None:
    assert ny_calendar().elapsed(ny(2026, 10, 14, 12, 0), ny(2026, 10, 14, 10, 0)) == 0.0


_ZONES = [UTC, NY, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59, 59), timezones=st.sampled_from(_ZONES)
    ),
    budget=st.floats(min_value=1.0, max_value=200 * HOUR, allow_nan=False, allow_infinity=False),
)
def test_elapsed_inverts_add_for_any_start_and_budget(start: datetime, budget: float) -> None:
    calendar = ny_calendar(date(2026, 1, 1), date(2026, 7, 3), date(2026, 11, 26), date(2026, 12, 25))
    due = calendar.add(start, budget)
    assert due > start
    assert abs(calendar.elapsed(start, due) - budget) <= 1e-6


# --- clocks ----------------------------------------------------------------------------------


def test_wall_clock_adds_plain_seconds() -> None:
    start = datetime(2026, 10, 16, 16, 30, tzinfo=UTC)
    assert Clock(None).add(start, 2 * HOUR) == datetime(2026, 10, 16, 18, 30, tzinfo=UTC)


def test_wall_clock_ignores_weekends_and_hours() -> None:
    start = ny(2026, 10, 16, 16, 30)
    assert Clock(None).add(start, 24 * HOUR) == ny(2026, 10, 17, 16, 30)


def test_wall_clock_elapsed_is_real_seconds() -> None:
    start = datetime(2026, 10, 16, 16, 30, tzinfo=UTC)
    assert Clock(None).elapsed(start, start + timedelta(hours=63)) == 63 * HOUR


def test_wall_clock_elapsed_never_negative() -> None:
    start = datetime(2026, 10, 16, 16, 30, tzinfo=UTC)
    assert Clock(None).elapsed(start, start - timedelta(hours=1)) == 0.0


def test_wall_clock_counts_real_hours_across_dst_in_a_local_zone() -> None:
    # Sat 2026-03-07 12:00 EST; 24 real hours later is Sun 13:00 EDT (the night lost an hour).
    start = ny(2026, 3, 7, 12, 0)
    due = Clock(None).add(start, 24 * HOUR)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 13, 0)
    assert Clock(None).elapsed(ny(2026, 3, 7, 12, 0), ny(2026, 3, 8, 12, 0)) == 23 * HOUR


def test_business_clock_delegates_to_calendar() -> None:
    clock = Clock(ny_calendar())
    start = ny(2026, 10, 16, 16, 30)
    assert clock.add(start, 2 * HOUR) == ny(2026, 10, 19, 10, 30)
    assert clock.elapsed(start, ny(2026, 10, 19, 10, 30)) == 2 * HOUR


# --- money -----------------------------------------------------------------------------------


def test_decimal_string_amount_is_exact() -> None:
    money = Money(amount="0.10", currency="USD")
    assert money.amount == Decimal("0.10")
    assert money.amount + Decimal("0.20") == Decimal("0.30")
    assert str(money) == "0.10 USD"


def test_integer_amount_is_accepted_exactly() -> None:
    assert Money(amount=12, currency="USD").amount == Decimal(12)


def test_amount_serialises_as_string() -> None:
    assert Money(amount="12.50", currency="EUR").model_dump(mode="json") == {"amount": "12.50", "currency": "EUR"}


def test_float_amount_is_refused_mentioning_float() -> None:
    with pytest.raises(ValidationError, match="not a float"):
        Money(amount=12.5, currency="USD")


def test_bool_amount_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_amount(True)


def test_negative_amount_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not be negative"):
        Money(amount="-1.00", currency="USD")


def test_amount_at_maximum_is_accepted() -> None:
    assert Money(amount=str(MAX_AMOUNT), currency="USD").amount == MAX_AMOUNT


def test_amount_above_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match="above the maximum"):
        Money(amount=str(MAX_AMOUNT + Decimal("0.01")), currency="USD")


@pytest.mark.parametrize("text", ["abc", "1,00", "12.50 USD"])
def test_non_numeric_amount_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="is not a decimal number"):
        Money(amount=text, currency="USD")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amount_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="finite"):
        Money(amount=text, currency="USD")


@pytest.mark.parametrize(("amount", "currency"), [("1.005", "USD"), ("1.5", "JPY"), ("1.0001", "KWD")])
def test_too_many_decimal_places_for_currency_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(ValidationError, match="decimal places"):
        Money(amount=amount, currency=currency)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1.05", "USD", "1.05 USD"),
        ("150", "JPY", "150 JPY"),
        ("1.005", "KWD", "1.005 KWD"),
        ("7", "EUR", "7.00 EUR"),
    ],
)
def test_amount_within_currency_decimal_places_is_accepted_and_shown(amount: str, currency: str, shown: str) -> None:
    assert str(Money(amount=amount, currency=currency)) == shown


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown currency 'XYZ'"):
        Money(amount="1.00", currency="XYZ")


def test_lowercase_currency_is_normalised() -> None:
    assert Money(amount="1.00", currency="usd").currency == "USD"
    assert parse_currency("eur") == "EUR"


def test_non_string_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        parse_currency(840)


# --- severity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "raised"),
    [
        (Severity.LOW, Severity.NORMAL),
        (Severity.NORMAL, Severity.HIGH),
        (Severity.HIGH, Severity.CRITICAL),
        (Severity.CRITICAL, Severity.CRITICAL),
    ],
)
def test_severity_raised_moves_one_level_and_stops_at_critical(severity: Severity, raised: Severity) -> None:
    assert severity.raised() == raised


@pytest.mark.parametrize(
    ("field", "amount", "currency"),
    [("total", "1.005", "USD"), ("shipping", "10.5", "JPY"), ("total", "1.0001", "KWD")],
)
def test_order_amounts_follow_the_same_decimal_rule_as_compensation(field: str, amount: str, currency: str) -> None:
    """Issue 15.8: one money rule; an order amount the compensation rule refuses is refused too."""
    from workflows.models import Order

    with pytest.raises(ValidationError, match="decimal places"):
        Money(amount=amount, currency=currency)
    with pytest.raises(ValidationError, match="decimal places"):
        Order.model_validate({"id": "o-1", "currency": currency, field: amount})
    assert Order.model_validate({"id": "o-1", "currency": currency, field: "10"}).money(Decimal(10)) is not None


def test_policy_limits_follow_the_same_decimal_rule() -> None:
    with pytest.raises(PolicyError, match="decimal places"):
        parse_policy(default_policy_text().replace('limit = { USD = "50.00"', 'limit = { USD = "50.005"', 1))
