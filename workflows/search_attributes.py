"""Typed search attributes that make complaints filterable in the Temporal UI's list view.

No customer personal data here: ids only, never names or emails.
"""

from typing import Any

from temporalio.common import SearchAttributeKey

RECOVERY_STEP = SearchAttributeKey.for_keyword("RecoveryStep")
RECOVERY_SEVERITY = SearchAttributeKey.for_keyword("RecoverySeverity")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
TICKET_SOURCE = SearchAttributeKey.for_keyword("TicketSource")
ASSIGNEE = SearchAttributeKey.for_keyword("Assignee")
"""The owning agent's id; unset until the case is assigned."""

ALL: list[SearchAttributeKey[Any]] = [
    RECOVERY_STEP,
    RECOVERY_SEVERITY,
    ESCALATION_LEVEL,
    CUSTOMER_ID,
    NEXT_DEADLINE,
    TICKET_SOURCE,
    ASSIGNEE,
]
