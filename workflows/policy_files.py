"""Policy files: a policy from TOML text, the file at a path or $RECOVERY_POLICY, or the packaged
default, with the holiday and templates files it names read and inlined. Callers run this outside
workflows; the policy that enters one holds only data (`workflows.policy`).
"""

from __future__ import annotations

import os
from datetime import date
from importlib import resources
from pathlib import Path

from recovery.config import parse_toml_config, read_config_file
from workflows.calendars import Calendar
from workflows.holiday_files import HolidayFileError, load_holiday_file
from workflows.policy import Policy, PolicyError
from workflows.templates import parse_overrides


def parse_policy(
    text: str, source: str = "policy", base_dir: str | os.PathLike[str] | None = None, *, read_files: bool = True
) -> Policy:
    """A policy from TOML text; holiday files are read now, relative to `base_dir` (the policy
    file's folder), so the policy that enters a workflow holds only their dates. With
    `read_files=False` (a policy uploaded over HTTP) a holiday file is refused instead."""
    policy = parse_toml_config(text, source, Policy, PolicyError)
    # Checked here, where a policy file enters, not in the model: a snapshot already inside a
    # workflow must keep loading. The arithmetic keeps working hours to the minute.
    if any(t.second or t.microsecond for t in policy.calendar.working_hours):
        raise PolicyError(
            f"{source}: calendar.working_hours: give whole minutes (HH:MM); seconds are not supported"
        ) from None
    if not read_files:
        for name, calendar in policy.calendars.items():
            if calendar.holiday_files:
                raise PolicyError(
                    f"{source}: calendars.{name}.holiday_files: not allowed in an uploaded policy "
                    "(list the dates in holidays instead)"
                )
        if policy.notifications.templates:
            raise PolicyError(
                f"{source}: notifications.templates: not allowed in an uploaded policy "
                "(write the overrides under [notifications.overrides] instead)"
            )
        return policy
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return with_templates(resolve_holiday_files(policy, base, source), base)


def resolve_holiday_files(policy: Policy, base_dir: Path, source: str) -> Policy:
    if not any(c.holiday_files for c in policy.calendars.values()):
        return policy
    calendars = {}
    for name, calendar in policy.calendars.items():
        days: set[date] = set()
        for index, file in enumerate(calendar.holiday_files):
            path = Path(file) if Path(file).is_absolute() else base_dir / file
            try:
                days.update(load_holiday_file(path))
            except HolidayFileError as exc:
                raise PolicyError(f"{source}: calendars.{name}.holiday_files.{index}: {exc}") from None
        data = calendar.model_dump(mode="json")
        data["file_holidays"] = [d.isoformat() for d in sorted(days)]
        calendars[name] = Calendar.model_validate(data)
    return policy.model_copy(update={"calendars": calendars})


def default_policy_text() -> str:
    return resources.files("workflows").joinpath("default_policy.toml").read_text()


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """The policy at `path`, else at $RECOVERY_POLICY, else the packaged default."""
    path = path or os.environ.get("RECOVERY_POLICY")
    if not path:
        return parse_policy(default_policy_text(), "default policy")
    return parse_policy(read_config_file(path, "policy", PolicyError), str(Path(path)), Path(path).parent)


def with_templates(policy: Policy, base: Path) -> Policy:
    """The policy with its templates file (relative to `base`) read, checked and inlined."""
    name = policy.notifications.templates
    if not name:
        return policy
    path = base / name
    text = read_config_file(path, "templates", PolicyError)
    try:
        overrides = parse_overrides(text, str(path))
    except ValueError as exc:
        raise PolicyError(str(exc)) from None
    notifications = policy.notifications.model_copy(update={"overrides": overrides})
    return policy.model_copy(update={"notifications": notifications})
