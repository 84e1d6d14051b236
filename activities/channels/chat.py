"""Chat channels: Slack incoming webhooks (text + blocks) and a generic JSON webhook.

Slack answers `ok` (200), or 400 `invalid_payload`, 403 `action_prohibited`, 404 `no_service`,
410 `channel_is_archived`, 429 with Retry-After. The generic webhook gets the engine's own JSON
with an `Idempotency-Key` header, so a receiver can drop the rare resend after a worker crash.

Slack reads `<…>` in `text` and mrkdwn as a link or a mention (`<!channel>`, `<@U…>`): every text
that comes from a ticket, a customer or an agent (the template params: subject, name, notes…) is
escaped as Slack documents, `&` `<` `>` as `&amp;` `&lt;` `&gt;` (`escape`), and the only links
are the engine's own (`link`, its label escaped too). The header block is `plain_text`, which
Slack never parses: the title goes there as written, and escaped where it is mrkdwn.
"""

from __future__ import annotations

from typing import Any

import httpx

from activities.channels import check_http, tls


def escape(text: str) -> str:
    """`text` as literal text in Slack `text`/mrkdwn: no link, mention or `<!channel>` in it works."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_params(params: dict[str, str]) -> dict[str, str]:
    """A notification's params (ticket, customer and agent text) escaped for mrkdwn."""
    return {name: escape(value) for name, value in params.items()}


def link(url: str, label: str) -> str:
    """An engine-built Slack link: the URL cannot close it early, the label is literal text."""
    safe_url = url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")
    return f"<{safe_url}|{escape(label)}>"


def slack_payload(title: str, text: str, case_id: str, case_url: str | None, history_url: str | None) -> dict[str, Any]:
    """`title` as plain text (escaped where Slack parses it); `text` is mrkdwn whose params were
    escaped when it was rendered (`escape_params`), the ops-written wording around them kept."""
    links = []
    if case_url:
        links.append(link(case_url, f"Open case {case_id} in the console"))
    if history_url:
        links.append(link(history_url, "History in the Temporal UI"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
    ]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": f"{escape(title)}: {text}", "blocks": blocks}


async def post_json(
    service: str, url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10.0
) -> str:
    async with httpx.AsyncClient(timeout=timeout, verify=tls.verified()) as http:
        response = await http.post(url, json=body, headers=headers or {})
    check_http(service, response.status_code, response.text, dict(response.headers))
    return f"{service} answered {response.status_code}"
