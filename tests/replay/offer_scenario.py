"""The `offer_and_pick` replay scenario (kept beside tests/replay/record.py, which runs it): at the
compensate step an agent offers three remedies; a compensation meanwhile is refused; the customer
picks option 2 by replying "2" on the ticket (a customer message); a second pick is refused by the
validator (nothing written); the remedy is issued once with actor customer; follow-up, close."""

from __future__ import annotations

from datetime import timedelta

from starter.cases import open_case, run_step
from tests.helpers import AGENT, fast_policy, ticket
from tests.replay.record import (
    Recorded,
    Rig,
    _finished,
    _follow_up_and_close,
    _refused,
    _updates,
    check,
    count,
    in_order,
    record_run,
)
from workflows.case.offers import CUSTOMER
from workflows.complaint import ComplaintWorkflow
from workflows.models import (
    AcknowledgeInput,
    CompensateInput,
    CustomerMessageInput,
    FixInput,
    OfferInput,
    PickInput,
)

OPTIONS = [
    {"kind": "refund", "amount": {"amount": "20.00", "currency": "USD"}},
    {"kind": "replacement", "label": "a replacement, shipped today"},
    {"kind": "coupon", "amount": {"amount": "25.00", "currency": "USD"}},
]


async def offer_and_pick(rig: Rig) -> list[Recorded]:
    client = rig.client
    async with rig.worker() as queue:
        opened = await open_case(client, ticket("rec-offer", customer="cust-offer"), fast_policy(), queue)
        case = opened.case_id
        await run_step(client, case, ComplaintWorkflow.acknowledge, AcknowledgeInput(actor=AGENT, message="Sorry."))
        await run_step(client, case, ComplaintWorkflow.record_fix, FixInput(actor=AGENT, description="Found it."))
        offered = await run_step(
            client,
            case,
            ComplaintWorkflow.offer,
            OfferInput.model_validate({"actor": AGENT.model_dump(), "options": OPTIONS, "default": 1}),
        )
        check(offered.offer is not None and offered.offer.status == "open", f"no open offer: {offered.offer}")
        await _refused(
            run_step(client, case, ComplaintWorkflow.compensate, CompensateInput(actor=AGENT, kind="upgrade")),
            "conflict",
            "an offer is waiting",
        )
        picked = await run_step(
            client,
            case,
            ComplaintWorkflow.customer_message,
            CustomerMessageInput(event_id="rec-offer-reply-1", source="zendesk", text="2"),
        )
        check(picked.offer is not None and picked.offer.picked == 2, f"not picked: {picked.offer}")
        await _refused(
            run_step(
                client, case, ComplaintWorkflow.pick_remedy, PickInput(actor=CUSTOMER, option=3, source="case-page")
            ),
            "conflict",
            "already chosen",
        )
        await _follow_up_and_close(client, case, csat=5, note="ok")
        await _finished(client, opened.workflow_id)
        recorded = await record_run(client, "offer_and_pick", opened.workflow_id)
    events = recorded.events
    offered_event, _, picked_event, issued, *_ = in_order(
        events,
        ("remedies_offered", {"default": 1}),
        ("customer_replied", {"text": "2", "counted": False}),
        ("remedy_picked", {"option": 2, "kind": "replacement", "source": "zendesk"}),
        ("compensation_issued", {"kind": "replacement"}),
        ("follow_up_asked", {}),
        ("closed", {}),
    )
    check(offered_event.actor == AGENT.id, f"offered by {offered_event.actor}")
    check(picked_event.actor == "customer" and issued.actor == "customer", "the pick is not the customer's")
    check(issued.data.get("offer") == offered_event.seq, f"issued from another offer: {issued.data}")
    check(count(events, "compensation_issued") == 1, "issued more than once")
    check(_updates(recorded.history, "pick_remedy") == 0, "the refused second pick was written to the history")
    check(timedelta(0) <= issued.at - picked_event.at < timedelta(minutes=1), "issued long after the pick")
    return [recorded]
