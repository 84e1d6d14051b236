"""The step machine's `erase` (operators only, open cases only): the customer's name, address and
every free text leave the state, ids, amounts and steps stay, and later customer messages go
through the ticket only."""

from __future__ import annotations

import pytest

from tests.helpers import AGENT, policy, ticket, utc
from workflows.case import Case, Rejection
from workflows.case.erasure import ERASED
from workflows.models import (
    AcknowledgeInput,
    Actor,
    CompensateInput,
    CustomerMessageInput,
    EraseInput,
    FixInput,
    PauseInput,
)

OPERATOR = Actor(id="dpo@example.com", role="operator")
CANARIES = ("Zelda Canary", "zelda.canary@example.com", "canary subject broken lamp", "canary words")


def canary_case() -> Case:
    opening = ticket(customer="cust-z", subject="canary subject broken lamp", description="the lamp, canary words")
    opening = opening.model_copy(
        update={"customer": opening.customer.model_copy(update={"name": "Zelda Canary", "email": CANARIES[1]})}
    )
    case = Case.open(opening, policy(), "complaint-cust-z:ord-1", utc(2026, 11, 20, 10))
    case.acknowledge(AcknowledgeInput(actor=AGENT, message="Sorry Zelda Canary"), utc(2026, 11, 20, 10, 5))
    case.customer_message(
        CustomerMessageInput(event_id="m-1", source="generic", text="canary words again"), utc(2026, 11, 20, 10, 6)
    )
    case.pause(PauseInput(actor=AGENT, reason="asked Zelda Canary for a photo"), utc(2026, 11, 20, 10, 7))
    return case


def test_erase_drops_name_address_and_texts_and_keeps_ids_amounts_and_steps() -> None:
    case = canary_case()
    before = case.state
    order, step, severity, seqs = before.ticket.order, before.step, before.severity, [e.seq for e in before.events]
    case.erase(EraseInput(actor=OPERATOR), utc(2026, 11, 20, 11))
    text = case.state.model_dump_json()
    for canary in CANARIES:
        assert canary not in text, canary
    assert canary not in case.status(utc(2026, 11, 20, 11)).model_dump_json()
    s = case.state
    assert s.ticket.customer.name == ERASED and s.ticket.customer.email is None and s.ticket.subject == ERASED
    assert s.ticket.customer.id == "cust-z" and s.ticket.order == order
    assert (s.step, s.severity, s.contact_count, s.paused) == (step, severity, 2, True)
    assert [e.seq for e in s.events[:-1]] == seqs
    assert s.events[-1].type == "erased" and s.events[-1].actor == "dpo@example.com"
    assert s.erased_at == utc(2026, 11, 20, 11)


def test_after_erasure_customer_messages_go_through_the_ticket_only() -> None:
    case = canary_case()
    case.erase(EraseInput(actor=OPERATOR), utc(2026, 11, 20, 11))
    case.state.outbox = []
    from workflows.models import ResumeInput

    case.resume(ResumeInput(actor=AGENT), utc(2026, 11, 20, 11, 1))
    case.record_fix(FixInput(actor=AGENT, description="sent a new lamp"), utc(2026, 11, 20, 11, 2))
    case.compensate(
        CompensateInput(actor=AGENT, kind="none", reason="replacement sent"),  # type: ignore[arg-type]
        utc(2026, 11, 20, 11, 3),
    )
    customer = [e.notification for e in case.state.outbox if e.notification and e.notification.audience == "customer"]
    assert customer
    for note in customer:
        assert note.context is not None
        assert note.context.customer_email is None and note.context.channel == "ticket"
        assert "Zelda Canary" not in note.model_dump_json()


@pytest.mark.parametrize("role", ["agent", "team-lead", "manager", "engine"])
def test_only_operators_erase(role: str) -> None:
    case = canary_case()
    with pytest.raises(Rejection) as refused:
        case.check_erase(EraseInput(actor=Actor(id="x", role=role)))
    assert refused.value.code == "forbidden"


def test_a_closed_case_is_not_erased_live() -> None:
    case = canary_case()
    case.state.step = case.state.step.CLOSED
    with pytest.raises(Rejection) as refused:
        case.check_erase(EraseInput(actor=OPERATOR))
    assert refused.value.code == "closed"
