"""What a case carries from one run to the next: its state, less the events already stored, and the
answers of recent contacts by update id (the Temporal side of continue-as-new, outside the rules)."""

from __future__ import annotations

from workflows.case import Case, CaseState
from workflows.models import ContactResult

ANSWER_WINDOW = 200
"""How many recent contacts' update ids (and the counts they got) a case remembers: the server may
apply an update completed in the task that continued as new again to the new run (same update id,
temporalio/temporal#6375), and that caller must get the first answer, not "duplicate"."""


def carried_state(case: Case) -> CaseState:
    """What the next run needs: projected events stay behind (the event store has them)."""
    s = case.state
    s.events = [e for e in s.events if e.seq > s.projected_seq]
    return s


def answer_for(case: Case, update_id: str) -> ContactResult | None:
    """The first answer to the update `update_id` if it added a contact recently, else None."""
    for known, count in reversed(case.state.contact_answers):
        if known == update_id:
            return case.contact_result(created=False, duplicate=False).model_copy(update={"contact_count": count})
    return None


def remember_answer(case: Case, update_id: str, result: ContactResult) -> None:
    """Keep the answer of an update that added a contact (see `answer_for`)."""
    if result.duplicate or result.created:
        return
    s = case.state
    s.contact_answers = [*s.contact_answers[-(ANSWER_WINDOW - 1) :], (update_id, result.contact_count)]
