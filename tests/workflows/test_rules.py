"""Policy rules: ordered, first match wins; the match and its reasons go into the `opened` event."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ticket
from workflows.case import Case
from workflows.models import TicketEvent
from workflows.policy import PolicyError
from workflows.policy_files import default_policy_text
from workflows.rules import PolicySet, load_policy_set, parse_policy_set

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)

SET = """
default = "standard"

[policies]
standard = "standard.toml"
vip = "policies/vip.toml"
eu = "policies/eu.toml"

[[rules]]
name = "VIP customers"
policy = "vip"
tier = ["gold", "platinum"]

[[rules]]
name = "EU brand, billing queue, big orders"
policy = "eu"
source = ["zendesk"]
brand = ["360001"]
group = ["billing"]
order_total = { min = "100.00", max = "1000.00", currency = "EUR" }

[[rules]]
name = "Shop project, tagged urgent"
policy = "vip"
project = ["SHOP"]
tags = ["urgent", "outage"]
tags_all = ["customer"]
severity = ["high", "critical"]
"""


def write_set(tmp_path: Path, text: str = SET) -> Path:
    (tmp_path / "policies").mkdir(exist_ok=True)
    for name, path in (("standard", "standard.toml"), ("vip", "policies/vip.toml"), ("eu", "policies/eu.toml")):
        (tmp_path / path).write_text(default_policy_text().replace('name = "default"', f'name = "{name}"'))
    (tmp_path / "rules.toml").write_text(text)
    return tmp_path / "rules.toml"


def t(**extra: Any) -> TicketEvent:
    base = ticket().model_dump(mode="json")
    return TicketEvent.model_validate(base | extra)


@pytest.fixture
def rules(tmp_path: Path) -> PolicySet:
    return load_policy_set(write_set(tmp_path))


def test_first_match_wins_and_says_why(rules: PolicySet) -> None:
    gold_eu = t(
        customer={"id": "c1", "name": "Dana", "tier": "Gold"},
        source="zendesk",
        brand="360001",
        group="billing",
        order={"id": "o1", "currency": "EUR", "total": "250.00"},
    )
    policy, match, checks = rules.explain(gold_eu)
    assert policy.name == "vip"  # rule 1 matches first, though rule 2 would match too
    assert match.rule == "VIP customers" and match.position == 1 and match.policy == "vip@2026-11"
    assert match.why == ["tier is Gold"]
    assert [c.matched for c in checks] == [True]


def test_brand_queue_and_total_range(rules: PolicySet) -> None:
    eu = t(source="zendesk", brand="360001", group="billing", order={"id": "o1", "currency": "EUR", "total": "100.00"})
    policy, match, checks = rules.explain(eu)
    assert policy.name == "eu" and match.position == 2
    assert match.why == [
        "source is zendesk",
        "brand is 360001",
        "group is billing",
        "order_total 100.00 EUR is within 100.00 ≤ total < 1000.00 EUR",
    ]
    assert checks[0].reasons == ["tier: the ticket has none (rule wants gold, platinum)"]
    # max is exclusive; another currency does not match
    too_big = eu.model_copy(update={"order": eu.order.model_copy(update={"total": 1000})})  # type: ignore[union-attr]
    assert rules.explain(too_big)[1].rule == "default"
    in_usd = t(
        source="zendesk", brand="360001", group="billing", order={"id": "o1", "currency": "USD", "total": "150.00"}
    )
    _, match, checks = rules.explain(in_usd)
    assert match.rule == "default" and match.why == ["no rule matched; the set's default policy is 'standard'"]
    assert checks[1].reasons == ["order_total: 150.00 USD is not in EUR"]


def test_project_tags_and_severity(rules: PolicySet) -> None:
    jira = t(source="jira", project="SHOP", tags=["Outage", "customer"], severity="high")
    _, match, _ = rules.explain(jira)
    assert match.position == 3
    assert match.why == ["project is SHOP", "tags include outage", "tags include all of customer", "severity is high"]
    _, match, checks = rules.explain(jira.model_copy(update={"severity": None}))
    assert match.rule == "default"
    assert checks[2].reasons == ["severity: the ticket names none (rule wants high, critical)"]
    _, _, checks = rules.explain(jira.model_copy(update={"tags": ["outage"]}))
    assert checks[2].reasons == ["tags_all: missing customer (ticket has outage)"]


def test_opened_event_records_the_rule(rules: PolicySet) -> None:
    gold = t(customer={"id": "c1", "name": "Dana", "tier": "gold"})
    policy, match = rules.select(gold)
    case = Case.open(gold, policy, "complaint-c1:ord-1", NOW, match)
    opened = case.state.events[0]
    assert opened.data["policy"] == "vip@2026-11"
    assert opened.data["rule"] == {
        "rule": "VIP customers",
        "position": 1,
        "policy": "vip@2026-11",
        "why": ["tier is gold"],
    }


def test_single_policy_file_is_a_set_of_one(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(default_policy_text())
    single = load_policy_set(tmp_path / "p.toml")
    policy, match = single.select(t())
    assert policy.name == "default" and match.rule == "single policy"
    assert match.why == ["the rule has no conditions: it matches every ticket"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('policy = "eu"', 'policy = "us"'),
            "rules.toml: rules.1.policy: unknown policy 'us' (defined in [policies]: eu, standard, vip)",
        ),
        (
            ('default = "standard"', ""),
            "rules.toml: (top level): some tickets would match no rule: "
            "set `default` or end with a rule without conditions",
        ),
        (('tier = ["gold", "platinum"]', "tier = []"), "rules.toml: rules.0.tier: List should have at least 1 item"),
        (('tier = ["gold", "platinum"]', 'customer_tier = ["gold"]'), "rules.toml: rules.0.customer_tier: unknown key"),
        (
            ('min = "100.00", max = "1000.00"', 'min = "100.00", max = "10.00"'),
            "rules.toml: rules.1.order_total: min 100.00 must be below max 10.00",
        ),
        (('eu = "policies/eu.toml"', 'eu = "policies/missing.toml"'), "rules.toml: policies.eu: "),
    ],
)
def test_set_errors_name_the_key(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = write_set(tmp_path, SET.replace(*change))
    with pytest.raises(PolicyError) as info:
        parse_policy_set(path.read_text(), "rules.toml", tmp_path)
    assert expected in str(info.value)
    if "missing.toml" in change[1]:
        assert "missing.toml: cannot read policy file: No such file or directory" in str(info.value)
