"""Webhook intake: signature checks on raw bytes, and mapping Zendesk and Jira bodies to ticket events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from starter.intake import (
    IntakeConfig,
    IntakeConfigError,
    JiraConfig,
    PayloadError,
    SignatureError,
    ZendeskConfig,
    jira_ticket,
    load_intake_config,
    parse_intake_config,
    sign_jira,
    sign_zendesk,
    verify_jira,
    verify_zendesk,
    zendesk_ticket,
)
from workflows.policy import Severity

NOW = datetime(2026, 11, 20, 10, 0, 0, tzinfo=timezone.utc)
STAMP = "2026-11-20T10:00:00Z"
RAW = b'{"ticket_id": "4711", "subject": "Shipping charge of $7,455 on an $88 order"}'
ZD = ZendeskConfig(secrets=["zd-secret"])
JIRA = JiraConfig(secrets=["jira-secret"])


def zd_headers(raw: bytes = RAW, secret: str = "zd-secret", stamp: str = STAMP) -> dict[str, str]:
    return {
        "X-Zendesk-Webhook-Signature": sign_zendesk(secret, stamp, raw),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


def stamp_at(offset_seconds: int) -> str:
    return (NOW + timedelta(seconds=offset_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def reason(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# --- Zendesk signatures --------------------------------------------------------------------


def test_zendesk_valid_signature_passes() -> None:
    assert verify_zendesk(zd_headers(), RAW, ZD, NOW) == 0  # verified by the first (only) secret


def test_zendesk_signature_is_base64_hmac_of_timestamp_and_body() -> None:
    expected = base64.b64encode(hmac.new(b"zd-secret", STAMP.encode() + RAW, hashlib.sha256).digest()).decode()
    assert sign_zendesk("zd-secret", STAMP, RAW) == expected


def test_zendesk_one_changed_byte_fails() -> None:
    tampered = RAW.replace(b"4711", b"4712")
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(zd_headers(), tampered, ZD, NOW)


def test_zendesk_wrong_secret_fails() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(zd_headers(secret="other"), RAW, ZD, NOW)


def test_zendesk_missing_signature_header_fails() -> None:
    headers = zd_headers()
    del headers["X-Zendesk-Webhook-Signature"]
    with pytest.raises(SignatureError, match="missing X-Zendesk-Webhook-Signature header"):
        verify_zendesk(headers, RAW, ZD, NOW)


def test_zendesk_missing_timestamp_header_fails() -> None:
    headers = zd_headers()
    del headers["X-Zendesk-Webhook-Signature-Timestamp"]
    with pytest.raises(SignatureError, match="missing X-Zendesk-Webhook-Signature-Timestamp header"):
        verify_zendesk(headers, RAW, ZD, NOW)


def test_zendesk_unparseable_timestamp_fails() -> None:
    with pytest.raises(SignatureError, match="ISO 8601"):
        verify_zendesk(zd_headers(stamp="yesterday"), RAW, ZD, NOW)


@pytest.mark.parametrize("offset", [301, -301])
def test_zendesk_timestamp_outside_window_fails(offset: int) -> None:
    with pytest.raises(SignatureError, match="outside the ±300 s window"):
        verify_zendesk(zd_headers(stamp=stamp_at(offset)), RAW, ZD, NOW)


@pytest.mark.parametrize("offset", [299, -299])
def test_zendesk_timestamp_inside_window_passes(offset: int) -> None:
    assert verify_zendesk(zd_headers(stamp=stamp_at(offset)), RAW, ZD, NOW) == 0


def test_zendesk_reserialised_body_fails() -> None:
    reserialised = json.dumps(json.loads(RAW), separators=(",", ":")).encode()
    assert reserialised != RAW
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(zd_headers(), reserialised, ZD, NOW)


def test_zendesk_rotation_accepts_old_and_new_secret_but_not_a_third() -> None:
    rotating = ZendeskConfig(secrets=["new", "old"])
    assert verify_zendesk(zd_headers(secret="new"), RAW, rotating, NOW) == 0
    assert verify_zendesk(zd_headers(secret="old"), RAW, rotating, NOW) == 1  # still signed with the old one
    with pytest.raises(SignatureError):
        verify_zendesk(zd_headers(secret="third"), RAW, rotating, NOW)


def test_zendesk_headers_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in zd_headers().items()}
    assert verify_zendesk(headers, RAW, ZD, NOW) == 0
    assert verify_zendesk({k.upper(): v for k, v in zd_headers().items()}, RAW, ZD, NOW) == 0


# --- Jira signatures -----------------------------------------------------------------------


def jira_headers(raw: bytes = RAW, secret: str = "jira-secret") -> dict[str, str]:
    return {"X-Hub-Signature": sign_jira(secret, raw)}


def test_jira_valid_signature_passes() -> None:
    assert verify_jira(jira_headers(), RAW, JIRA) == 0
    assert verify_jira({"x-hub-signature": sign_jira("jira-secret", RAW)}, RAW, JIRA) == 0


def test_jira_one_changed_byte_fails() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira(jira_headers(), RAW.replace(b"4711", b"4712"), JIRA)


def test_jira_wrong_secret_fails() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira(jira_headers(secret="other"), RAW, JIRA)


def test_jira_missing_header_fails() -> None:
    with pytest.raises(SignatureError, match="missing X-Hub-Signature header"):
        verify_jira({}, RAW, JIRA)


def test_jira_sha1_prefix_fails() -> None:
    digest = sign_jira("jira-secret", RAW).removeprefix("sha256=")
    with pytest.raises(SignatureError, match="unsupported signature algorithm 'sha1'"):
        verify_jira({"X-Hub-Signature": "sha1=" + digest}, RAW, JIRA)


@pytest.mark.parametrize("value", ["sha256=" + "zz" * 32, "sha256=abc", "deadbeef"])
def test_jira_malformed_value_fails(value: str) -> None:
    with pytest.raises(SignatureError, match="malformed"):
        verify_jira({"X-Hub-Signature": value}, RAW, JIRA)


def test_jira_reserialised_body_fails() -> None:
    reserialised = json.dumps(json.loads(RAW), indent=2).encode()
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira(jira_headers(), reserialised, JIRA)


def test_jira_rotation_accepts_either_secret() -> None:
    rotating = JiraConfig(secrets=["new", "old"])
    assert verify_jira(jira_headers(secret="old"), RAW, rotating) == 1
    assert verify_jira(jira_headers(secret="new"), RAW, rotating) == 0
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira(jira_headers(secret="third"), RAW, rotating)


# --- Zendesk mapping -----------------------------------------------------------------------


def trigger_body(**overrides: object) -> dict:
    body = {
        "ticket_id": "4711",
        "subject": "Shipping charge of $7,455 on an $88 order",
        "description": "I was charged $7,455 for shipping.",
        "priority": "Urgent",
        "url": "https://example.zendesk.com/agent/tickets/4711",
        "updated_at": "2026-11-20T09:58:00Z",
        "requester": {"id": "99", "name": "Dana Example", "email": "dana@example.com"},
        "order": {"id": "ord-88", "total": "88.00", "shipping": "7455.00", "currency": "USD"},
    }
    body.update(overrides)
    return body


def test_zendesk_trigger_body_maps_to_ticket_event() -> None:
    ticket = zendesk_ticket(trigger_body(), ZD, NOW)
    assert ticket is not None
    assert ticket.source == "zendesk"
    assert ticket.event_id == "zendesk:ticket:4711"
    assert ticket.ticket_id == "4711"
    assert ticket.customer.id == "zd-user-99"
    assert ticket.customer.name == "Dana Example"
    assert ticket.customer.email == "dana@example.com"
    assert ticket.severity is Severity.CRITICAL
    assert ticket.occurred_at == datetime(2026, 11, 20, 9, 58, tzinfo=timezone.utc)
    assert ticket.url == "https://example.zendesk.com/agent/tickets/4711"
    assert ticket.case_key == "zd-user-99:ord-88"


def test_zendesk_shipping_example_amounts_are_exact() -> None:
    ticket = zendesk_ticket(trigger_body(), ZD, NOW)
    assert ticket.order is not None
    assert ticket.order.total == Decimal("88.00") and str(ticket.order.total) == "88.00"
    assert ticket.order.shipping == Decimal("7455.00") and str(ticket.order.shipping) == "7455.00"
    assert ticket.order.currency == "USD"


def test_zendesk_trigger_uses_body_event_id_when_given() -> None:
    assert zendesk_ticket(trigger_body(event_id="zd-evt-1"), ZD, NOW).event_id == "zd-evt-1"


def test_zendesk_empty_order_id_means_no_order() -> None:
    ticket = zendesk_ticket(trigger_body(order={"id": "", "total": "", "shipping": ""}), ZD, NOW)
    assert ticket.order is None
    assert ticket.case_key == "zendesk:4711"


def test_zendesk_order_without_currency_uses_default() -> None:
    config = ZendeskConfig(secrets=["s"], default_currency="EUR")
    ticket = zendesk_ticket(trigger_body(order={"id": "ord-1", "total": "10.00"}), config, NOW)
    assert ticket.order.currency == "EUR" and ticket.order.shipping is None


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("urgent", Severity.CRITICAL),
        ("HIGH", Severity.HIGH),
        ("Normal", Severity.NORMAL),
        ("low", Severity.LOW),
        ("", None),
        ("-", None),
        ("whenever", None),
    ],
)
def test_zendesk_priority_maps_case_insensitively(priority: str, severity: Severity | None) -> None:
    assert zendesk_ticket(trigger_body(priority=priority), ZD, NOW).severity == severity


def test_zendesk_time_without_zone_falls_back_to_received_at() -> None:
    assert zendesk_ticket(trigger_body(updated_at="November 20, 2026 10:00"), ZD, NOW).occurred_at == NOW
    assert zendesk_ticket(trigger_body(updated_at="2026-11-20T09:58:00"), ZD, NOW).occurred_at == NOW


def test_zendesk_link_built_from_base_url_when_body_has_none() -> None:
    config = ZendeskConfig(secrets=["s"], base_url="https://example.zendesk.com/")
    assert zendesk_ticket(trigger_body(url=""), config, NOW).url == "https://example.zendesk.com/agent/tickets/4711"


@pytest.mark.parametrize("field", ["ticket_id", "subject", "requester"])
def test_zendesk_trigger_missing_field_names_it(field: str) -> None:
    body = trigger_body()
    del body[field]
    with pytest.raises(PayloadError, match=field):
        zendesk_ticket(body, ZD, NOW)


def test_zendesk_missing_requester_id_names_it() -> None:
    with pytest.raises(PayloadError, match="requester.id"):
        zendesk_ticket(trigger_body(requester={"name": "Dana"}), ZD, NOW)


def test_zendesk_invalid_field_becomes_payload_error() -> None:
    with pytest.raises(PayloadError, match="order.total"):
        zendesk_ticket(trigger_body(order={"id": "ord-1", "total": "lots"}), ZD, NOW)
    with pytest.raises(PayloadError, match="customer.email"):
        zendesk_ticket(trigger_body(requester={"id": "99", "email": "not-an-email"}), ZD, NOW)


def envelope(kind: str = "zen:event-type:ticket.created", **detail: object) -> dict:
    body = {
        "type": kind,
        "account_id": 123,
        "id": "2f0e3a4b-0000-4000-8000-000000000001",
        "time": "2026-11-20T10:00:00Z",
        "zendesk_event_version": "2022-11-06",
        "subject": "zen:ticket:4711",
        "detail": {
            "id": "4711",
            "subject": "Broken glass",
            "description": "Arrived broken.",
            "priority": "URGENT",
            "requester_id": "99",
            "created_at": "2026-11-20T09:59:00Z",
            "custom_fields": [{"id": "360000", "value": "x"}, {"id": "360001", "value": "ord-88"}],
        },
        "event": {},
    }
    body["detail"].update(detail)
    return body


def test_zendesk_envelope_ticket_created_maps_to_ticket_event() -> None:
    config = ZendeskConfig(secrets=["s"], order_field="360001", base_url="https://example.zendesk.com")
    ticket = zendesk_ticket(envelope(), config, NOW)
    assert ticket.event_id == "zendesk:ticket:4711" and ticket.ticket_id == "4711"
    assert ticket.customer.id == "zd-user-99" and ticket.customer.name == "Zendesk user 99"
    assert ticket.order is not None and ticket.order.id == "ord-88" and ticket.order.currency == "USD"
    assert ticket.order.total is None and ticket.order.shipping is None
    assert ticket.severity is Severity.CRITICAL
    assert ticket.occurred_at == datetime(2026, 11, 20, 9, 59, tzinfo=timezone.utc)
    assert ticket.url == "https://example.zendesk.com/agent/tickets/4711"


def test_zendesk_envelope_and_trigger_agree_on_event_id_and_customer() -> None:
    a = zendesk_ticket(envelope(), ZD, NOW)
    b = zendesk_ticket(trigger_body(), ZD, NOW)
    assert (a.event_id, a.customer.id) == (b.event_id, b.customer.id)


def test_zendesk_envelope_without_order_field_has_no_order() -> None:
    assert zendesk_ticket(envelope(), ZD, NOW).order is None


@pytest.mark.parametrize("kind", ["zen:event-type:ticket.status_changed", "zen:event-type:user.created"])
def test_zendesk_envelope_other_events_are_ignored(kind: str) -> None:
    assert zendesk_ticket(envelope(kind), ZD, NOW) is None


def test_zendesk_envelope_missing_requester_names_it() -> None:
    body = envelope()
    del body["detail"]["requester_id"]
    with pytest.raises(PayloadError, match="detail.requester_id"):
        zendesk_ticket(body, ZD, NOW)


def test_zendesk_long_description_is_clipped_not_refused() -> None:
    ticket = zendesk_ticket(trigger_body(description="x" * 30000, subject="s" * 400), ZD, NOW)
    assert len(ticket.description) == 20000 and len(ticket.subject) == 300


# --- Jira mapping --------------------------------------------------------------------------

JIRA_FIELDS = JiraConfig(
    secrets=["s"],
    customer_id_field="customfield_10050",
    customer_name_field="customfield_10051",
    order_id_field="customfield_10060",
    order_total_field="customfield_10061",
    shipping_field="customfield_10062",
    currency_field="customfield_10063",
    base_url="https://example.atlassian.net",
)


def jira_body(event: str = "jira:issue_created", **fields: object) -> dict:
    body = {
        "timestamp": 1795168800000,
        "webhookEvent": event,
        "issue": {
            "key": "SUP-42",
            "fields": {
                "summary": "Shipping charge of $7,455 on an $88 order",
                "description": "Charged $7,455 for shipping.",
                "priority": {"name": "Highest"},
                "reporter": {
                    "accountId": "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
                    "displayName": "Dana Example",
                    "emailAddress": "dana@example.com",
                },
            },
        },
    }
    body["issue"]["fields"].update(fields)
    return body


@pytest.mark.parametrize("event", ["jira:issue_created", "jira:issue_updated"])
def test_jira_issue_created_and_updated_map_to_the_same_contact(event: str) -> None:
    ticket = jira_ticket(jira_body(event), {}, JIRA, NOW)
    assert ticket.source == "jira" and ticket.event_id == "jira:SUP-42" and ticket.ticket_id == "SUP-42"
    assert ticket.subject == "Shipping charge of $7,455 on an $88 order"
    assert ticket.severity is Severity.CRITICAL
    assert ticket.occurred_at == datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    assert ticket.url is None and ticket.order is None


@pytest.mark.parametrize("event", ["jira:issue_deleted", "comment_created", "jira:worklog_updated"])
def test_jira_other_events_are_ignored(event: str) -> None:
    assert jira_ticket(jira_body(event), {}, JIRA, NOW) is None


def test_jira_reporter_is_the_customer_by_default() -> None:
    ticket = jira_ticket(jira_body(), {}, JIRA, NOW)
    assert ticket.customer.id == "jira-557058_f58131cb-b67d-43c7-b30d-6b58d40bd077"
    assert ticket.customer.name == "Dana Example" and ticket.customer.email == "dana@example.com"


def test_jira_custom_fields_give_customer_and_exact_order() -> None:
    body = jira_body(
        customfield_10050={"value": "cust-1042"},
        customfield_10051="Dana E.",
        customfield_10060="ord-88",
        customfield_10061=88,
        customfield_10062=7455.0,
        customfield_10063={"value": "usd"},
    )
    ticket = jira_ticket(body, {}, JIRA_FIELDS, NOW)
    assert ticket.customer.id == "cust-1042" and ticket.customer.name == "Dana E."
    assert ticket.order.id == "ord-88" and ticket.order.currency == "USD"
    assert ticket.order.total == Decimal("88.00") and ticket.order.shipping == Decimal("7455.00")
    assert ticket.case_key == "cust-1042:ord-88"
    assert ticket.url == "https://example.atlassian.net/browse/SUP-42"


def test_jira_string_amounts_are_kept_as_written() -> None:
    body = jira_body(
        customfield_10050="cust-1042",
        customfield_10060="ord-88",
        customfield_10061="88.00",
        customfield_10062="7455.00",
    )
    ticket = jira_ticket(body, {}, JIRA_FIELDS, NOW)
    assert str(ticket.order.total) == "88.00" and str(ticket.order.shipping) == "7455.00"


def test_jira_float_amounts_go_through_their_decimal_text() -> None:
    body = jira_body(customfield_10050="c-1", customfield_10060="o-1", customfield_10061=0.1, customfield_10062=19.99)
    ticket = jira_ticket(body, {}, JIRA_FIELDS, NOW)
    assert str(ticket.order.total) == "0.1" and str(ticket.order.shipping) == "19.99"


def test_jira_adf_description_becomes_text() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Charged"},
                    {"type": "text", "text": "$7,455", "marks": [{"type": "strong"}]},
                ],
            },
            {"type": "paragraph", "content": [{"type": "text", "text": "on an $88 order."}]},
        ],
    }
    assert jira_ticket(jira_body(description=adf), {}, JIRA, NOW).description == "Charged $7,455 on an $88 order."


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ({"name": "High"}, Severity.HIGH),
        ({"name": "medium"}, Severity.NORMAL),
        ({"name": "Lowest"}, Severity.LOW),
        ({"name": "Blocker"}, None),
        (None, None),
    ],
)
def test_jira_priority_maps(priority: object, severity: Severity | None) -> None:
    assert jira_ticket(jira_body(priority=priority), {}, JIRA, NOW).severity == severity


def test_jira_without_timestamp_uses_received_at() -> None:
    body = jira_body()
    del body["timestamp"]
    assert jira_ticket(body, {}, JIRA, NOW).occurred_at == NOW


def test_jira_missing_reporter_and_customer_field_names_them() -> None:
    with pytest.raises(PayloadError, match="issue.fields.customfield_10050 or issue.fields.reporter.accountId"):
        jira_ticket(jira_body(reporter=None), {}, JIRA_FIELDS, NOW)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["issue"].pop("key"), "issue.key"),
        (lambda b: b["issue"]["fields"].pop("summary"), "issue.fields.summary"),
        (lambda b: b.pop("issue"), "issue"),
        (lambda b: b.pop("webhookEvent"), "webhookEvent"),
    ],
)
def test_jira_missing_required_field_names_it(mutate, field: str) -> None:
    body = jira_body()
    mutate(body)
    with pytest.raises(PayloadError, match=field):
        jira_ticket(body, {}, JIRA, NOW)


# --- configuration -------------------------------------------------------------------------


def test_no_config_means_no_webhook_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOVERY_INTAKE", raising=False)
    assert load_intake_config() == IntakeConfig()
    assert load_intake_config().zendesk is None and load_intake_config().jira is None


def test_config_loads_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "intake.toml"
    file.write_text('[zendesk]\nsecrets = ["a", "b"]\norder_field = 360001\n\n[jira]\nsecrets = ["j"]\n')
    monkeypatch.setenv("RECOVERY_INTAKE", str(file))
    config = load_intake_config()
    assert config.zendesk.secrets == ["a", "b"] and config.zendesk.order_field == "360001"
    assert config.jira.priority_map["Highest"] is Severity.CRITICAL


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[zendesk]\n", "zendesk.secrets: required key is missing"),
        ("[zendesk]\nsecrets = []\n", "zendesk.secrets:"),
        ('[zendesk]\nsecrets = ["a", "b", "c"]\n', "zendesk.secrets:"),
        ('[zendesk]\nsecrets = [""]\n', "zendesk.secrets.0:"),
        ('[jira]\nsecrets = ["a"]\nsecret_field = "x"\n', "jira.secret_field: unknown key (check the spelling)"),
        ('[zendesk]\nsecrets = ["a"]\npriority_map = { urgent = "panic" }\n', "zendesk.priority_map.urgent:"),
        ('[jira]\nsecrets = ["a"]\ndefault_currency = "XXX"\n', "jira.default_currency: unknown currency"),
        ('[zendesk]\nsecrets = ["a"]\nbase_url = "example.zendesk.com"\n', "zendesk.base_url: base_url"),
        ("max_body_bytes = 0\n", "max_body_bytes:"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    file = tmp_path / "intake.toml"
    file.write_text(text)
    with pytest.raises(IntakeConfigError) as excinfo:
        load_intake_config(str(file))
    assert reason(excinfo).startswith(f"{file}: ")
    assert needle in reason(excinfo)


def test_config_invalid_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(IntakeConfigError, match="not valid TOML"):
        parse_intake_config("[zendesk\n", "intake.toml")
    with pytest.raises(IntakeConfigError, match="cannot read intake config file"):
        load_intake_config(str(tmp_path / "missing.toml"))


def test_config_reports_every_problem_one_per_line() -> None:
    with pytest.raises(IntakeConfigError) as excinfo:
        parse_intake_config('[zendesk]\nsecrets = []\ncolour = "red"\n', "intake.toml")
    lines = reason(excinfo).splitlines()
    assert len(lines) == 2 and all(line.startswith("intake.toml: zendesk.") for line in lines)


# --- what policy rules match on ------------------------------------------------------------


def test_zendesk_brand_group_and_tags_reach_the_ticket() -> None:
    ticket = zendesk_ticket(trigger_body(brand_id=360001, group_id="billing", tags="vip eu_brand"), ZD, NOW)
    assert (ticket.brand, ticket.group, ticket.tags) == ("360001", "billing", ["vip", "eu_brand"])
    plain = zendesk_ticket(trigger_body(), ZD, NOW)
    assert (plain.brand, plain.group, plain.tags) == (None, None, [])


def test_jira_project_and_labels_reach_the_ticket() -> None:
    ticket = jira_ticket(
        jira_body(project={"key": "SHOP", "name": "Shop"}, labels=["outage", "customer"]), {}, JIRA, NOW
    )
    assert (ticket.project, ticket.tags) == ("SHOP", ["outage", "customer"])
    assert jira_ticket(jira_body(), {}, JIRA, NOW).project == "SUP"  # from the issue key


# --- the order's payment at Stripe (refunds go to it) -------------------------------------------


def test_zendesk_order_payment_reference_is_mapped() -> None:
    order = {"id": "ord-88", "total": "88.00", "currency": "USD", "payment_reference": "pi_3OrderPaid"}
    ticket = zendesk_ticket(trigger_body(order=order), ZD, NOW)
    assert ticket.order is not None and ticket.order.payment_reference == "pi_3OrderPaid"
    assert zendesk_ticket(trigger_body(), ZD, NOW).order.payment_reference is None


def test_jira_payment_reference_field_is_mapped() -> None:
    config = JIRA_FIELDS.model_copy(update={"payment_reference_field": "customfield_10064"})
    ticket = jira_ticket(jira_body(customfield_10060="ord-88", customfield_10064="ch_3Charge"), {}, config, NOW)
    assert ticket.order is not None and ticket.order.payment_reference == "ch_3Charge"


def test_a_payment_reference_that_is_no_stripe_payment_is_refused() -> None:
    order = {"id": "ord-88", "currency": "USD", "payment_reference": "order 88"}
    with pytest.raises(PayloadError, match="payment_reference"):
        zendesk_ticket(trigger_body(order=order), ZD, NOW)
