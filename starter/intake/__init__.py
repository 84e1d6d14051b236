"""Webhook intake: verify Zendesk and Jira webhooks and map them to the generic `TicketEvent`.

Pure and framework-free: the HTTP layer hands over the raw request bytes, the headers and the
clock, and gets back a `TicketEvent` (or None for events that open no case), a `SignatureError`
(answer 401) or a `PayloadError` (answer 422). `config` reads the ops-owned intake file,
`signatures` verifies, `zendesk` and `jira` map one source each, `fields` holds what they share.
The config keys and each source's mapping are documented in docs/ops.md ("Webhook intake").
"""

from starter.intake.config import (
    IntakeConfig,
    IntakeConfigError,
    JiraConfig,
    RateLimits,
    ZendeskConfig,
    load_intake_config,
    parse_intake_config,
)
from starter.intake.events import EventRules, OwnEvent, TicketActivity
from starter.intake.fields import PayloadError
from starter.intake.jira import jira_activity, jira_ticket
from starter.intake.replays import jira_event_key, zendesk_event_key
from starter.intake.signatures import SignatureError, sign_jira, sign_zendesk, verify_jira, verify_zendesk
from starter.intake.zendesk import zendesk_activity, zendesk_ticket

__all__ = [
    "EventRules",
    "IntakeConfig",
    "IntakeConfigError",
    "JiraConfig",
    "OwnEvent",
    "PayloadError",
    "RateLimits",
    "SignatureError",
    "TicketActivity",
    "ZendeskConfig",
    "jira_activity",
    "jira_event_key",
    "jira_ticket",
    "load_intake_config",
    "parse_intake_config",
    "sign_jira",
    "sign_zendesk",
    "verify_jira",
    "verify_zendesk",
    "zendesk_activity",
    "zendesk_event_key",
    "zendesk_ticket",
]
