"""Ops files for notifications, checked like the policy: `policy check` with a templates file,
`recovery roster check FILE`."""

from __future__ import annotations

from pathlib import Path

from tests.starter.test_cli import assert_one_line_error, recovery
from workflows.policy_files import default_policy_text, load_policy
from workflows.templates import render

TEMPLATES = """
[email.acknowledgement]
subject = "Our apologies, $customer"
body = \"\"\"Dear $customer,

we are truly sorry about "$subject". $message We'll have it fixed by $fix_due.\"\"\"

[chat.escalation]
body = "ESCALATED: $case to level $level ($reason)"
"""


def policy_with(tmp_path: Path, templates: str) -> Path:
    (tmp_path / "templates.toml").write_text(templates)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        default_policy_text() + '\n[notifications]\nchannel = "both"\nsender = "care@shop.example"\n'
        'templates = "templates.toml"\n'
    )
    return policy


def test_policy_check_reads_the_templates_file_named_by_the_policy(tmp_path: Path) -> None:
    path = policy_with(tmp_path, TEMPLATES)
    result = recovery("policy", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "customer messages: both; templates overridden: chat.escalation, email.acknowledgement" in result.stdout
    policy = load_policy(path)
    overrides = policy.notifications.overrides
    title, text = render(
        "customer",
        "acknowledgement",
        {"customer": "Dana", "subject": "Late", "message": "Sorry.", "fix_due": "Monday"},
        "email",
        overrides,
    )
    assert title == "Our apologies, Dana"
    assert text == 'Dear Dana,\n\nwe are truly sorry about "Late". Sorry. We\'ll have it fixed by Monday.'
    # The ticket channel keeps the default wording.
    assert render("customer", "acknowledgement", {"customer": "Dana"}, "ticket", overrides)[0] == "We're sorry, Dana"


def test_a_parameter_the_template_does_not_get_is_a_policy_check_error(tmp_path: Path) -> None:
    path = policy_with(tmp_path, TEMPLATES.replace("$fix_due", "$fix_date"))
    result = recovery("policy", "check", str(path))
    assert_one_line_error(
        result, 2, "templates.toml: email.acknowledgement.body: unknown parameter $fix_date", "$fix_due"
    )


def test_unknown_template_channel_and_missing_file_are_errors(tmp_path: Path) -> None:
    result = recovery("policy", "check", str(policy_with(tmp_path, '[email.escalation]\nbody = "x"\n')))
    assert_one_line_error(result, 2, "email.escalation: escalation is an internal message: use channel chat or note")
    result = recovery("policy", "check", str(policy_with(tmp_path, '[sms.acknowledgement]\nbody = "x"\n')))
    assert_one_line_error(result, 2, "sms: unknown channel")
    (tmp_path / "templates.toml").unlink()
    result = recovery("policy", "check", str(tmp_path / "policy.toml"))
    assert_one_line_error(result, 2, "templates.toml: cannot read templates file")


ROSTER = """
[people.lena]
name = "Lena Lead"
email = "lena@shop.example"
slack = "https://hooks.slack.com/services/T0/B0/x"
time_zone = "Europe/Berlin"
quiet_hours = ["22:00", "07:00"]
[people.tom]
webhook = "https://ops.example.com/hook"

[roles.team-lead]
people = ["lena", "tom"]
rotation = { start = 2026-11-02, handover = "mon 09:00", time_zone = "Europe/Berlin" }
"""


def test_roster_check_summarises_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "roster.toml"
    path.write_text(ROSTER)
    result = recovery("roster", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert f"roster {path}: ok (2 people, 1 roles)" in result.stdout
    assert "weekly rotation, hand-over mon 09:00 Europe/Berlin, on call now:" in result.stdout
    assert "lena (Lena Lead): email, slack, quiet 22:00-07:00 Europe/Berlin" in result.stdout


def test_roster_check_names_file_key_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "roster.toml"
    path.write_text(ROSTER.replace('"lena", "tom"', '"lena", "tim"'))
    assert_one_line_error(recovery("roster", "check", str(path)), 2, str(path), "roles.team-lead: unknown people tim")
    path.write_text(ROSTER.replace('time_zone = "Europe/Berlin"\nquiet', 'time_zone = "Mars/Olympus"\nquiet'))
    assert_one_line_error(recovery("roster", "check", str(path)), 2, "people.lena.time_zone: unknown time zone")
    path.write_text(ROSTER.replace('handover = "mon 09:00"', 'handover = "someday"'))
    assert_one_line_error(recovery("roster", "check", str(path)), 2, "rotation.handover")
    assert_one_line_error(recovery("roster", "check", str(tmp_path / "nope.toml")), 2, "cannot read roster file")


def test_overrides_written_into_the_policy_itself_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(default_policy_text() + '\n[notifications.overrides.email.acknowledgement]\nbody = "Hi $name"\n')
    assert_one_line_error(
        recovery("policy", "check", str(path)),
        2,
        "notifications.overrides: email.acknowledgement.body: unknown parameter $name",
    )
