"""The alert rules, the roster's cause owners, and the projector's signal to the cause watch when
Temporal is unreachable (a retryable error, never a poison batch; the events are stored)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cause_feed import CauseWatchFeed
from activities.roster import RosterError, parse_roster
from activities.store.projection import Projector
from recovery.converter import data_converter
from tests.helpers import free_port, policy
from tests.workflows.cause_watch_helpers import RULES, closed_batch, roster
from workflows.learning import LearningPolicy, alert_key, trend_text
from workflows.policy import Policy, PolicyError

LAST_LINE = 'anomaly_severity = "critical"'
ALERTS = """
[[learning.alerts]]
cause = "wrong-item-shipped"
count = 5
within = "7d"

[[learning.alerts]]
cause = "default"
count = 10
within = "1d"
"""


def with_alerts(alerts: str) -> Policy:
    return policy(**{LAST_LINE: f"{LAST_LINE}\n{alerts}"})


def test_a_cause_without_its_own_entry_falls_back_to_default_and_without_one_has_no_alert() -> None:
    learning = with_alerts(ALERTS).learning
    own = learning.rule_for("wrong-item-shipped")
    assert own is not None and (own.count, own.within.days) == (5, 7)
    fallback = learning.rule_for("billing-error")
    assert fallback is not None and (fallback.cause, fallback.count, fallback.within.days) == ("billing-error", 10, 1)
    only_own = LearningPolicy.model_validate({"alerts": [{"cause": "late-delivery", "count": 2, "within": "1d"}]})
    assert only_own.rule_for("billing-error") is None
    assert policy().learning.rule_for("wrong-item-shipped") is None  # the packaged default: no alerts


def test_a_cause_given_twice_or_a_bad_count_is_refused_naming_the_key() -> None:
    twice = ALERTS + ALERTS.split("[[learning.alerts]]")[1].join(["[[learning.alerts]]", ""])
    with pytest.raises(PolicyError, match=r"learning: alerts: one entry per cause \(wrong-item-shipped given twice\)"):
        with_alerts(twice)
    with pytest.raises(PolicyError, match="learning.alerts.0.count"):
        with_alerts(ALERTS.replace("count = 5", "count = 0"))


def test_windows_are_aligned_spans_and_the_alert_key_names_cause_and_window_start() -> None:
    rule = RULES.rule_for("wrong-item-shipped")
    assert rule is not None
    start = rule.window_start(datetime(2026, 12, 7, 15, 30, tzinfo=UTC))
    assert start == datetime(2026, 12, 3, tzinfo=UTC)  # a Thursday, 7-day spans since 1970-01-01
    assert rule.window_start(datetime(2026, 12, 9, 23, 59, tzinfo=UTC)) == start
    assert rule.window_start(datetime(2026, 12, 10, tzinfo=UTC)) == rule.window_end(start)
    assert alert_key("wrong-item-shipped", start) == "cause-watch-wrong-item-shipped:2026-12-03T00:00:00+00:00"
    assert trend_text(6, 3) == "6 this window vs 3 in the previous one (up 100%)"


def test_the_cause_owner_comes_from_the_roster_else_the_on_call_team_lead() -> None:
    people = roster("wrong-item-shipped", "http://slack.test/hook")
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert people.cause_owner("wrong-item-shipped", now, "team-lead") == "olga"
    assert people.cause_owner("billing-error", now, "team-lead") == "lena"
    assert people.cause_owner("billing-error", now, "nobody") is None
    with pytest.raises(RosterError, match="causes.late-delivery.owner: 'zed' is neither a person"):
        parse_roster('[people.olga]\nemail = "o@example.com"\n[causes.late-delivery]\nowner = "zed"\n', "r.toml")


async def test_with_temporal_unreachable_the_batch_is_stored_and_retried_not_poison(db) -> None:
    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=data_converter)
    projector = Projector(db, closes=CauseWatchFeed(unreachable, "recovery", RULES))
    batch = closed_batch("cust-9:ord-1", datetime.now(UTC), "wrong-item-shipped")
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(projector.project_events, batch)
    assert raised.value.type == "CauseWatchUnreachable" and not raised.value.non_retryable
    assert "complaint-cust-9:ord-1" in str(raised.value) and "cause-watch-wrong-item-shipped" in str(raised.value)
    stored = await db.fetchval("SELECT count(*) FROM events WHERE workflow_id = 'complaint-cust-9:ord-1'")
    assert stored == 1
    # a batch with no close whose cause has a rule never asks Temporal
    other = closed_batch("cust-9:ord-2", datetime.now(UTC), "billing-error")
    only_own = LearningPolicy.model_validate({"alerts": [{"cause": "late-delivery", "count": 2, "within": "1d"}]})
    quiet = Projector(db, closes=CauseWatchFeed(unreachable, "recovery", only_own))
    assert await ActivityEnvironment().run(quiet.project_events, other) == 8
