"""`recovery offer`: its options (`KIND[:AMOUNT[:LABEL]]`) become the `offer` step's input, and a bad
offer is refused before anything is sent (exit 2, one line naming the field)."""

from __future__ import annotations

import pytest

from starter.cli import _main, build_parser
from starter.cli.cases import STEP_ARGUMENTS
from workflows.models import Actor, OfferInput


def test_the_options_become_the_offers_input() -> None:
    args = build_parser().parse_args(
        [
            "offer",
            "cust-1:ord-1",
            "--option",
            "refund:20.00",
            "--option",
            "replacement::a replacement, shipped today",
            "--option",
            "coupon:25",
            "--default",
            "2",
            "--choose-by",
            "2026-12-10T12:00:00Z",
        ]
    )
    _, build = STEP_ARGUMENTS["offer"]
    body = build(args)
    offer = OfferInput.model_validate({"actor": Actor(id="alice", role="agent").model_dump(), **body})
    assert [o.describe() for o in offer.options] == [
        "a refund of 20.00 USD",
        "a replacement, shipped today",
        "a coupon of 25.00 USD",
    ]
    assert offer.default == 2 and offer.choose_by is not None and offer.choose_by.day == 10


def test_a_bad_offer_is_refused_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    # No server at this address: the input is refused before any connection is tried.
    code = _main(["offer", "c:o", "--option", "refund:20", "--address", "127.0.0.1:1", "--operator", "--agent", "a"])
    assert code == 2
    assert "options" in capsys.readouterr().err
    code = _main(
        ["offer", "c:o", "--option", "refund:20", "--option", "upgrade", "--default", "3", "--operator", "--agent", "a"]
    )
    assert code == 2
    assert "option 3 does not exist" in capsys.readouterr().err


def test_show_lists_the_offer_and_the_pick() -> None:
    from datetime import UTC, datetime

    from starter.cli.cases import format_status
    from tests.helpers import AGENT, fast_policy, ticket
    from workflows.case import Case
    from workflows.case.offers import CUSTOMER
    from workflows.models import AcknowledgeInput, FixInput, PickInput

    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    case = Case.open(ticket("cli-offer"), fast_policy(), "complaint-cli-offer:ord-1", now)
    case.acknowledge(AcknowledgeInput(actor=AGENT), now)
    case.record_fix(FixInput(actor=AGENT, description="done"), now)
    options = [{"kind": "refund", "amount": {"amount": "20.00", "currency": "USD"}}, {"kind": "replacement"}]
    case.offer(OfferInput.model_validate({"actor": AGENT.model_dump(), "options": options}), now)
    assert "offer             open until" in format_status(case.status(now))
    case.pick_remedy(PickInput(actor=CUSTOMER, option=2), now)
    shown = format_status(case.status(now))
    assert "option 2 picked by customer (default 1)" in shown and "2. a replacement" in shown
