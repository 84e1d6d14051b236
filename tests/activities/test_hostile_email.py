"""The email channel sends to the one parsed address of a delivery, never to what its headers
might parse to: a stored record from before intake parsed addresses is refused for good, and a
hostile display name stays a display name (a real SMTP server on loopback sees the envelope)."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest
from temporalio.exceptions import ApplicationError

from activities.channels.email import SmtpConfig, build_message
from activities.notifications import Notifier
from tests.activities.test_channels import deliver, email_delivery, note
from tests.fakes.smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.mark.parametrize("address", ["victim,evil4@x.com", "Foo<evil5@x.com>", 'x"@evil7.com', "a@x.com, b@y.com"])
async def test_a_stored_address_that_is_not_one_mailbox_is_rejected_and_nothing_is_sent(
    smtp: SmtpServer, address: str
) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, "recovery@shop.example"))
    with pytest.raises(ApplicationError) as err:
        await deliver(notifier, email_delivery(note(), address=address))
    assert err.value.type == "ChannelRejected" and err.value.non_retryable
    assert "not one email address" in str(err.value)
    assert smtp.messages == [] and smtp.envelopes == []


async def test_a_hostile_display_name_adds_no_recipient(smtp: SmtpServer) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, "recovery@shop.example"))
    await deliver(notifier, email_delivery(note(customer='Eve <evil@x.com>, "x" <evil2@x.com>')))
    (mail,) = smtp.messages
    assert smtp.envelopes == [("care@shop.example", ["dana@example.com"])]
    (to,) = mail["To"].addresses
    assert to.addr_spec == "dana@example.com"
    assert to.display_name == 'Eve <evil@x.com>, "x" <evil2@x.com>'


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\u0085", "\u2028"], ids=["CRLF", "LF", "U+0085", "U+2028"])
def test_build_message_makes_a_stored_hostile_name_one_line_and_adds_no_header(brk: str) -> None:
    name = f"Dana{brk}Bcc: evil@x.com"
    msg = build_message(
        key="complaint-c:o:2:0",
        thread=[],
        to="dana@example.com",
        to_name=name,
        sender="Shop Care <care@shop.example>",
        reply_to=f"help@shop.example{brk}",
        subject=f"We're sorry, {name}",
        text="Body.",
        case_id="c:o",
        domain="shop.example",
    )
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and parsed["Reply-To"] == "help@shop.example"
    assert sorted(parsed.keys()) == sorted(
        ["From", "To", "Reply-To", "Subject", "Date", "Message-ID", "X-Recovery-Case", "MIME-Version", "Content-Type"]
    )
    (to,) = parsed["To"].addresses
    assert to.addr_spec == "dana@example.com" and to.display_name == "Dana Bcc: evil@x.com"
    assert parsed["Subject"] == "We're sorry, Dana Bcc: evil@x.com [case c:o]"


async def test_a_stored_hostile_name_reaches_smtp_as_one_display_name_and_no_bcc(smtp: SmtpServer) -> None:
    notifier = Notifier(smtp=SmtpConfig.from_url(smtp.url, "recovery@shop.example"))
    await deliver(notifier, email_delivery(note(customer="Dana\r\nBcc: evil@x.com")))
    (mail,) = smtp.messages
    assert smtp.envelopes == [("care@shop.example", ["dana@example.com"])]
    assert mail["Bcc"] is None and mail["To"] == '"Dana Bcc: evil@x.com" <dana@example.com>'
