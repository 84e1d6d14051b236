"""Remedies the customer chooses, in the pure step machine: the offer's checks (2-4 options, each
within the agent's authority and the customer's cap), the pick, a second or late pick refused with
nothing written, a reply naming an option, and the deadline (default issued or owner told)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from tests.helpers import AGENT, fast_policy, ticket
from workflows.case import Case, Rejection
from workflows.case.offers import CUSTOMER, picked_number
from workflows.models import (
    AcknowledgeInput,
    CompensateInput,
    CustomerMessageInput,
    FixInput,
    OfferInput,
    PickInput,
)
from workflows.policy import Policy, Step

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
OPTIONS: list[dict[str, Any]] = [
    {"kind": "refund", "amount": {"amount": "20.00", "currency": "USD"}},
    {"kind": "replacement", "label": "a replacement, shipped today"},
    {"kind": "coupon", "amount": {"amount": "25.00", "currency": "USD"}},
]


def policy(**changes: Any) -> Policy:
    data = fast_policy(compensate="4h").model_dump(mode="json")
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value}
    return Policy.model_validate(data)


def at_compensate(p: Policy | None = None) -> Case:
    case = Case.open(ticket("offer-unit"), p or policy(), "complaint-offer-unit:ord-1", T0)
    case.acknowledge(AcknowledgeInput(actor=AGENT), T0 + timedelta(minutes=1))
    case.record_fix(FixInput(actor=AGENT, description="replaced"), T0 + timedelta(minutes=2))
    assert case.state.step is Step.COMPENSATE
    return case


def offer(options: list[dict[str, Any]] = OPTIONS, **extra: Any) -> OfferInput:
    return OfferInput.model_validate({"actor": AGENT.model_dump(), "options": options, **extra})


NOW = T0 + timedelta(minutes=3)


def issues(case: Case) -> list[Any]:
    return [e.issue for e in case.state.outbox if e.issue is not None]


def templates(case: Case) -> list[str]:
    return [e.notification.template for e in case.state.outbox if e.notification is not None]


def test_an_offer_needs_two_to_four_options_and_a_default_among_them() -> None:
    with pytest.raises(ValidationError, match="at least 2"):
        offer(OPTIONS[:1])
    with pytest.raises(ValidationError, match="at most 4"):
        offer(OPTIONS + OPTIONS[:2])
    with pytest.raises(ValidationError, match="option 4 does not exist"):
        offer(default=4)
    with pytest.raises(ValidationError, match="not a remedy"):
        offer([OPTIONS[0], {"kind": "none"}])
    with pytest.raises(ValidationError, match="needs an amount"):
        offer([OPTIONS[1], {"kind": "refund"}])


def test_every_option_must_be_within_the_agents_authority_and_the_customers_cap() -> None:
    case = at_compensate()
    above = offer([OPTIONS[0], {"kind": "refund", "amount": {"amount": "60.00", "currency": "USD"}}])
    with pytest.raises(Rejection, match="option 2: 60.00 USD is above your authority") as refused:
        case.check_offer(above, NOW)
    assert refused.value.code == "forbidden"
    capped = at_compensate(policy(compensation={"customer_cap": {"USD": "22.00"}}))
    with pytest.raises(Rejection, match="option 3: 25.00 USD would take .* above the cap of 22.00"):
        capped.check_offer(offer(), NOW)
    with pytest.raises(Rejection, match="is not in the future"):
        case.check_offer(offer(choose_by=NOW.isoformat()), NOW)
    with pytest.raises(Rejection, match="later than the policy allows"):
        case.check_offer(offer(choose_by=(NOW + timedelta(days=30)).isoformat()), NOW)
    assert case.state.offer is None and case.state.seq == 3  # checks write nothing


def test_the_customers_pick_is_the_compensate_step_issued_once_with_actor_customer() -> None:
    case = at_compensate()
    made = case.offer(offer(default=2, choose_by=(NOW + timedelta(hours=48)).isoformat()), NOW)
    assert made.status == "open" and "offer" in templates(case)
    sent = next(e.notification for e in case.state.outbox if e.notification and e.notification.template == "offer")
    assert sent is not None and "1. a refund of 20.00 USD" in sent.params["options"]
    assert "3. a coupon of 25.00 USD" in sent.params["options"]
    # While the customer chooses, the agent cannot compensate and no escalation is planned.
    with pytest.raises(Rejection, match="an offer is waiting"):
        case.check_compensate(CompensateInput(actor=AGENT, kind="upgrade"), NOW)
    assert "offer" not in case.accepted_steps() and "compensate" not in case.accepted_steps()
    wake = case.next_wakeup()
    assert wake is not None and wake.summary == "offer: the customer's choice deadline"

    comp = case.pick_remedy(PickInput(actor=CUSTOMER, option=3, source="case-page"), NOW + timedelta(hours=1))
    assert comp.proposed_by == CUSTOMER and comp.approved_by == AGENT and comp.offer == made.seq
    [issue] = issues(case)
    assert issue.key == f"complaint-offer-unit:ord-1:{comp.seq}"
    assert issue.issued_by.id == "customer" and issue.approved_by == AGENT and str(issue.amount) == "25.00 USD"
    picked = case.state.events[-1]
    assert picked.type == "remedy_picked" and picked.actor == "customer" and picked.data["authority"] == "50.00 USD"

    case.compensation_issued(comp.seq, "instr-x", NOW + timedelta(hours=1, seconds=1))
    issued = case.state.events[-1]
    assert issued.type == "compensation_issued" and issued.actor == "customer" and issued.data["offer"] == made.seq
    assert case.state.step is Step.FOLLOW_UP


def test_a_second_pick_and_a_late_pick_are_refused_and_change_nothing() -> None:
    case = at_compensate()
    case.offer(offer(choose_by=(NOW + timedelta(hours=2)).isoformat()), NOW)
    late = at_compensate()
    late.offer(offer(choose_by=(NOW + timedelta(hours=2)).isoformat()), NOW)

    case.pick_remedy(PickInput(actor=CUSTOMER, option=1), NOW + timedelta(minutes=5))
    seq, outbox = case.state.seq, len(case.state.outbox)
    with pytest.raises(Rejection, match=r"option 1 \(a refund of 20.00 USD\) was already chosen by you") as second:
        case.pick_remedy(PickInput(actor=CUSTOMER, option=2), NOW + timedelta(minutes=6))
    assert second.value.code == "conflict" and (case.state.seq, len(case.state.outbox)) == (seq, outbox)

    with pytest.raises(Rejection, match="the choice closed at") as too_late:
        late.check_pick(PickInput(actor=CUSTOMER, option=2), NOW + timedelta(hours=2))
    assert too_late.value.code == "conflict" and late.state.offer is not None and late.state.offer.status == "open"
    with pytest.raises(Rejection, match="option 4 does not exist"):
        late.check_pick(PickInput(actor=CUSTOMER, option=4), NOW + timedelta(minutes=1))


def test_a_reply_with_an_options_number_picks_it_and_a_later_one_gets_an_answer() -> None:
    assert [picked_number(t) for t in ("2", " 2. ", "Option 3", "#1", "2 please", "12", "")] == [
        2,
        2,
        3,
        1,
        None,
        None,
        None,
    ]
    case = at_compensate()
    case.offer(offer(), NOW)
    count = case.state.contact_count
    case.customer_message(CustomerMessageInput(event_id="zd-1", source="zendesk", text="2"), NOW + timedelta(minutes=1))
    assert case.state.offer is not None and case.state.offer.picked == 2 and case.state.offer.picked_by == "customer"
    assert case.state.contact_count == count  # a choice, not a repeat contact
    [issue] = issues(case)
    assert issue.kind == "replacement" and issue.issued_by.id == "customer"
    # Still at compensate (issuing): another number is answered, and nothing else is issued.
    case.customer_message(CustomerMessageInput(event_id="zd-2", source="zendesk", text="1"), NOW + timedelta(minutes=2))
    assert case.state.events[-1].type == "remedy_pick_refused" and len(issues(case)) == 1
    assert templates(case)[-1] == "offer_closed"


def test_nothing_picked_by_the_deadline_issues_the_default_by_policy() -> None:
    case = at_compensate()
    deadline = NOW + timedelta(hours=1)
    case.offer(offer(default=2, choose_by=deadline.isoformat()), NOW)
    case.tick(deadline - timedelta(seconds=1))
    assert not issues(case)
    case.tick(deadline)
    assert case.state.offer is not None and case.state.offer.picked == 2 and case.state.offer.picked_by == "engine"
    [issue] = issues(case)
    assert issue.kind == "replacement" and issue.approved_by == AGENT
    assert [e.type for e in case.state.events[-2:]] == ["offer_expired", "remedy_picked"]


def test_nothing_picked_by_the_deadline_tells_the_owner_when_the_policy_says_so() -> None:
    case = at_compensate(policy(offers={"on_expiry": "notify_owner"}))
    deadline = NOW + timedelta(hours=1)
    case.offer(offer(choose_by=deadline.isoformat()), NOW)
    case.tick(deadline)
    assert case.state.offer is not None and case.state.offer.status == "expired" and not issues(case)
    assert case.state.events[-1].type == "offer_expired" and templates(case)[-1] == "offer_expired"
    with pytest.raises(Rejection, match="the choice closed"):
        case.check_pick(PickInput(actor=CUSTOMER, option=1), deadline)
    # The agent compensates (or offers again) as usual.
    case.check_compensate(CompensateInput(actor=AGENT, kind="upgrade"), deadline)
    assert "offer" in case.accepted_steps()


def test_the_follow_up_thresholds_are_policy_keys() -> None:
    assert (policy().follow_up.satisfied_at, policy().follow_up.unsatisfied_at) == (4, 2)
    assert policy(follow_up={"satisfied_at": 5, "unsatisfied_at": 1}).follow_up.satisfied_at == 5
    with pytest.raises(ValidationError, match="must be below satisfied_at"):
        policy(follow_up={"satisfied_at": 3, "unsatisfied_at": 3})


def test_a_policy_file_with_a_bad_offers_key_is_refused_naming_it() -> None:
    from workflows.policy_files import default_policy_text, parse_policy

    text = default_policy_text() + '\n[offers]\non_expiry = "refund_everything"\n'
    with pytest.raises(ValueError, match="offers.on_expiry"):
        parse_policy(text, "bad.toml")
    good = parse_policy(default_policy_text() + '\n[offers]\non_expiry = "notify_owner"\nchoice_window = "24h"\n', "ok")
    assert good.offers.on_expiry == "notify_owner" and good.offers.choice_window == timedelta(hours=24)


def test_the_console_form_becomes_the_offer_input() -> None:
    from console.offer_form import offer_input

    form = {
        "option1_kind": "refund",
        "option1_amount": "20.00",
        "option2_kind": "replacement",
        "option2_label": "a new one",
        "option3_kind": "",
        "currency": "USD",
        "default": "2",
        "choose_within": "48",
    }
    fields = offer_input(form, NOW)
    made = OfferInput.model_validate({"actor": AGENT.model_dump(), **fields})
    assert [o.describe() for o in made.options] == ["a refund of 20.00 USD", "a new one"]
    assert made.default == 2 and made.choose_by == NOW + timedelta(hours=48)
    with pytest.raises(ValidationError, match="choose_by"):
        OfferInput.model_validate({"actor": AGENT.model_dump(), **offer_input({**form, "choose_within": "soon"})})
