"""The email channel sends to the one parsed address of a delivery, never to what its headers
might parse to: a stored record from before intake parsed addresses is refused for good, and a
hostile display name stays a display name (a real SMTP server on loopback sees the envelope)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.exceptions import ApplicationError

from activities.channels.email import SmtpConfig
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
