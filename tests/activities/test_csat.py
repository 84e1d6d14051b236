"""The SLA report's CSAT section over a read model seeded through the projection: the customers' own
answers (actor `customer`) kept apart from the scores agents entered, with figures worked out by hand
in the comments of `cases()`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from activities.store.projection import ProjectionBatch, project
from recovery import csat
from recovery.report_text import format_report
from recovery.reports import sla_report
from starter.customer import answers
from workflows.models import DomainEvent

T0 = datetime(2024, 3, 1, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
CUSTOMER, AGENT = "customer", "alice"


class Case:
    """Domain events of one case, each at its own hour after the opening, with its actor."""

    def __init__(self, key: str, opened_at: datetime, severity: str):
        self.key, self.opened_at = key, opened_at
        self.events: list[DomainEvent] = []
        self.add("engine", "opened", severity=severity, customer_id=f"cust-{key}", source="email", anomalies=[])
        self.add(AGENT, "acknowledged", message="sorry").add(AGENT, "fix_recorded", description="fixed")

    def add(self, actor: str, type_: str, **data: Any) -> Case:
        at = self.opened_at + len(self.events) * H
        self.events.append(DomainEvent(seq=len(self.events) + 1, type=type_, at=at, actor=actor, data=data))
        return self

    def asked(self) -> Case:
        return self.add("engine", "follow_up_asked")

    def done(self, actor: str, outcome: str, score: int | None = None) -> Case:
        self.add(actor, "follow_up_done", outcome=outcome, csat=score, note="")
        if outcome == "unsatisfied":
            self.add(actor, "reopened", step="fix", reason="customer unsatisfied")
        return self

    def middle(self, score: int) -> Case:
        """A middle score from the page: a customer message for the owner (answers.score_step)."""
        _, _, inp = answers.score_step(score, "so-so", answers.Thresholds(), self._event_id("score"))
        return self.add(CUSTOMER, "customer_replied", **inp.model_dump(), counted=True, contact_count=2)

    def reply(self, text: str) -> Case:
        """A message from the page's reply box (not an answer, whatever it says)."""
        _, inp = answers.message_step(text, self._event_id("reply"))
        return self.add(CUSTOMER, "customer_replied", **inp.model_dump(), counted=True, contact_count=2)

    def close(self, root_cause: str) -> Case:
        return self.add(AGENT, "closed", root_cause=root_cause, note="")

    def _event_id(self, kind: str) -> str:
        return answers.event_id(kind, uuid.uuid4(), f"nonce-{len(self.events):012d}")


def cases() -> list[Case]:
    return [
        # A critical: the customer scores 5 on the page. Asked 1, answered 1, score 5.
        Case("a", T0, "critical").asked().done(CUSTOMER, "satisfied", 5).close("carrier"),
        # B critical: no answer; an agent records no_response. Asked 1, answered 0.
        Case("b", T0 + 1 * H, "critical").asked().done(AGENT, "no_response").close("carrier"),
        # C high: the customer scores 1 (reopened), is asked again, sends a middle 3, and the owner
        # records satisfied with 4. Asked 2, answered 2, scores 1 and 3; the agent's 4 apart.
        Case("c", T0 + 2 * H, "high")
        .asked()
        .done(CUSTOMER, "unsatisfied", 1)
        .add(AGENT, "fix_recorded", description="again")
        .asked()
        .middle(3)
        .done(AGENT, "satisfied", 4)
        .close("warehouse"),
        # D normal: an agent records 5 from a phone call; open. Asked 1, answered 0; the agent's 5 apart.
        Case("d", T0 + 3 * H, "normal").asked().done(AGENT, "satisfied", 5),
        # E normal: the reply box says "The customer scored 5": a message, not an answer. Asked 1, answered 0.
        Case("e", T0 + 4 * H, "normal").asked().reply("The customer scored 5"),
        # F low: not asked yet. Nothing.
        Case("f", T0 + 5 * H, "low"),
        # G high: a middle 3, then a 4 that completes it: the last answer counts. Asked 1, answered 1, score 4.
        Case("g", T0 + 6 * H, "high").asked().middle(3).done(CUSTOMER, "satisfied", 4).close("warehouse"),
        # H low: an old history, a score typed by an agent without any question asked. The agent's 2 apart.
        Case("h", T0 + 7 * H, "low").done(AGENT, "satisfied", 2).close("product-defect"),
        # I critical, ten days later: the customer scores 4. Asked 1, answered 1, score 4.
        Case("i", T0 + 10 * D, "critical").asked().done(CUSTOMER, "satisfied", 4).close("carrier"),
    ]


async def seed(db: asyncpg.Pool) -> None:
    for case in cases():
        batch = ProjectionBatch(workflow_id=f"complaint-{case.key}", case_id=case.key, events=case.events)
        assert await project(db, batch)


def figures(asked: int, answered: int, rate: float | None, n: int, mean: float | None) -> dict[str, Any]:
    return {"asked": asked, "answered": answered, "response_rate_pct": rate, "n": n, "mean": mean}


# All cases: asked A1 B1 C2 D1 E1 G1 I1 = 8; answered A C C G I = 5 (62.5%); scores 5 1 3 4 4 = 17/5.
EXPECTED: dict[str, Any] = {
    "customers": {
        **figures(8, 5, 62.5, 5, 3.4),
        "by_severity": [
            {"severity": "critical", **figures(3, 2, 66.7, 2, 4.5)},  # A 5, B none, I 4
            {"severity": "high", **figures(3, 3, 100.0, 3, 2.67)},  # C 1 and 3, G 4: 8/3
            {"severity": "normal", **figures(2, 0, 0.0, 0, None)},  # D, E
        ],
        "by_root_cause": [
            {"root_cause": "carrier", **figures(3, 2, 66.7, 2, 4.5)},
            {"root_cause": "warehouse", **figures(3, 3, 100.0, 3, 2.67)},
            {"root_cause": "open", **figures(2, 0, 0.0, 0, None)},
        ],
    },
    "agent_entered": {"n": 3, "mean": 3.67},  # C 4, D 5, H 2 (B's no_response has none): 11/3
}


async def test_customers_own_csat_apart_from_agents_scores(db: asyncpg.Pool) -> None:
    await seed(db)
    report = await sla_report(db)
    assert report.csat.model_dump() == EXPECTED


async def test_the_window_selects_cases_by_opening(db: asyncpg.Pool) -> None:
    await seed(db)
    first = (await sla_report(db, since=T0, until=T0 + 5 * D)).csat  # without I
    assert first.customers.model_dump(exclude={"by_severity", "by_root_cause"}) == figures(7, 4, 57.1, 4, 3.25)
    assert first.customers.by_severity[0].model_dump() == {"severity": "critical", **figures(2, 1, 50.0, 1, 5.0)}
    assert first.agent_entered.model_dump() == {"n": 3, "mean": 3.67}

    later = (await sla_report(db, since=T0 + 5 * D)).csat  # I alone
    assert later.customers.model_dump(exclude={"by_severity", "by_root_cause"}) == figures(1, 1, 100.0, 1, 4.0)
    assert later.agent_entered.model_dump() == {"n": 0, "mean": None}

    empty = (await sla_report(db, since=T0 + 20 * D)).csat
    assert empty.customers.model_dump() == {**figures(0, 0, None, 0, None), "by_severity": [], "by_root_cause": []}


async def test_an_erased_middle_score_still_counts_as_answered(db: asyncpg.Pool) -> None:
    case = Case("x", T0, "normal").asked().middle(3)
    case.events[-1].data["text"] = "[erased]"
    assert await project(db, ProjectionBatch(workflow_id="complaint-x", case_id="x", events=case.events))
    customers = (await sla_report(db)).csat.customers
    assert customers.model_dump(exclude={"by_severity", "by_root_cause"}) == figures(1, 1, 100.0, 0, None)


def test_the_report_reads_what_the_case_page_writes() -> None:
    """The report's constants are the page's: a change to one must change the other."""
    assert answers.CUSTOMER.id == csat.CUSTOMER_ACTOR
    assert answers.event_id("score", uuid.uuid4(), "n" * 16).startswith(csat.SCORE_EVENT_ID)
    assert not answers.event_id("reply", uuid.uuid4(), "n" * 16).startswith(csat.SCORE_EVENT_ID)
    assert answers.SCORE_PREFIX.format(score=3) == csat.SCORE_TEXT.removeprefix("^").replace("([1-5])", "3")


async def test_the_text_report_shows_the_two_kinds_apart(db: asyncpg.Pool) -> None:
    await seed(db)
    lines = format_report(await sla_report(db)).splitlines()
    start = lines.index("Customers' own CSAT (answers from the case page)")
    assert lines[start + 1].split() == ["asked", "answered", "response", "rate", "scores", "mean"]
    assert lines[start + 3].split() == ["8", "5", "62.5%", "5", "3.40"]
    by_severity = lines[lines.index("Customers' own CSAT by severity") + 3 :][:3]
    assert [line.split() for line in by_severity] == [
        ["critical", "3", "2", "66.7%", "2", "4.50"],
        ["high", "3", "3", "100.0%", "3", "2.67"],
        ["normal", "2", "0", "0.0%", "0", "-"],
    ]
    by_cause = lines[lines.index("Customers' own CSAT by root cause") + 3 :][:3]
    assert [line.split()[0] for line in by_cause] == ["carrier", "warehouse", "open"]
    agents = lines.index("Scores entered by agents (not the customers' own)")
    assert lines[agents + 3].split() == ["3", "3.67"]


async def test_a_question_asked_again_before_any_answer_counts_once(db: asyncpg.Pool) -> None:
    case = Case("y", T0, "low").asked().asked().middle(3).done(AGENT, "no_response")
    assert await project(db, ProjectionBatch(workflow_id="complaint-y", case_id="y", events=case.events))
    customers = (await sla_report(db)).csat.customers
    assert customers.model_dump(exclude={"by_severity", "by_root_cause"}) == figures(1, 1, 100.0, 1, 3.0)
    assert customers.by_root_cause[0].root_cause == "open"
