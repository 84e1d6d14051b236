"""Slack gets ticket, customer and agent text as literal text: `&`, `<`, `>` escaped as Slack
documents in `text` and every mrkdwn block, so a subject or a name cannot ping the channel, mention
someone or pose as a link; the engine's own console and history links still work (loopback fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activities.notifications import Notifier
from tests.activities.test_channels import deliver, note
from tests.fakes.slack import FakeSlack
from workflows.effects import Delivery
from workflows.templates import MessageTemplate

SUBJECT = "<!channel> <https://evil.example/login|Open case in the console>"
NAME = "<@U0ADMIN>"
ESCAPED_SUBJECT = "&lt;!channel&gt; &lt;https://evil.example/login|Open case in the console&gt;"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def mrkdwn_texts(post: dict) -> list[str]:
    texts = [post["text"]]
    for block in post["blocks"]:
        parts = [block.get("text"), *block.get("elements", [])]
        texts += [p["text"] for p in parts if isinstance(p, dict) and p.get("type") == "mrkdwn"]
    return texts


async def test_ticket_and_customer_text_is_escaped_and_only_the_engine_links(slack: FakeSlack) -> None:
    hook = slack.hook("lena")
    notifier = Notifier(console_url="http://api.local:8000", temporal_ui_url="http://ui.local:8233", namespace="prod")
    override = {"chat": MessageTemplate(subject="New case: $subject", body="*$subject* for $customer & co")}
    n = note("new_case", audience="internal", recipient="team-lead", subject=SUBJECT, customer=NAME, overrides=override)
    await deliver(notifier, Delivery(key=f"{n.key}:lena:slack", channel="slack", address=hook, person="lena", note=n))
    (post,) = slack.posts(hook)

    section = post["blocks"][1]["text"]["text"]
    assert section == f"*{ESCAPED_SUBJECT}* for &lt;@U0ADMIN&gt; & co"  # ops wording kept as written
    assert post["text"] == f"New case: {ESCAPED_SUBJECT}: {section}"
    for text in mrkdwn_texts(post):
        assert "<!channel>" not in text and "<@U0ADMIN>" not in text and "<https://evil" not in text, text
    assert post["blocks"][0]["text"] == {"type": "plain_text", "text": f"New case: {SUBJECT}"[:150]}  # never parsed
    links = post["blocks"][2]["elements"][0]["text"]
    assert links == (
        "<http://api.local:8000/cases/cust-1%3Aord-1|Open case cust-1:ord-1 in the console> · "
        "<http://ui.local:8233/namespaces/prod/workflows/complaint-cust-1%3Aord-1|History in the Temporal UI>"
    )


async def test_an_agents_note_cannot_mention_or_link(slack: FakeSlack) -> None:
    hook = slack.hook("tom")
    n = note("assigned", audience="internal", recipient="agent", agent="lena", note="ping <!here> & <@U0ADMIN>")
    await deliver(Notifier(), Delivery(key=f"{n.key}:tom:slack", channel="slack", address=hook, person="tom", note=n))
    (post,) = slack.posts(hook)
    assert "ping &lt;!here&gt; &amp; &lt;@U0ADMIN&gt;" in post["blocks"][1]["text"]["text"]
    assert all("<!here>" not in t and "<@" not in t for t in mrkdwn_texts(post))
