"""Every notification template, customer and internal, renders with no placeholder left."""

from __future__ import annotations

from workflows.templates import CUSTOMER, INTERNAL, render


def test_every_template_renders_without_placeholders_left() -> None:
    params = {
        name: "x"
        for name in (
            "case",
            "customer",
            "subject",
            "message",
            "fix_due",
            "step",
            "description",
            "kind",
            "amount",
            "follow_up_due",
            "severity",
            "due",
            "count",
            "percent",
            "level",
            "reason",
            "agent",
            "approver",
            "note",
            "budget",
            "cause",
            "window",
            "trend",
            "cases",
            "link",
            "owner",
            "options",
            "choose_by",
            "fallback",
        )
    }
    for audience, table in (("customer", CUSTOMER), ("internal", INTERNAL)):
        for template in table:
            title, text = render(audience, template, params)
            assert "$" not in title + text, (template, text)
