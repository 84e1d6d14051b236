"""Chat channels: Slack incoming webhooks (text + blocks) and a generic JSON webhook.

Slack answers `ok` (200), or 400 `invalid_payload`, 403 `action_prohibited`, 404 `no_service`,
410 `channel_is_archived`, 429 with Retry-After. The generic webhook gets the engine's own JSON
with an `Idempotency-Key` header, so a receiver can drop the rare resend after a worker crash.
"""

from __future__ import annotations

from typing import Any

import httpx

from activities.channels import check_http


def slack_payload(title: str, text: str, case_id: str, case_url: str | None, history_url: str | None) -> dict[str, Any]:
    links = []
    if case_url:
        links.append(f"<{case_url}|Open case {case_id} in the console>")
    if history_url:
        links.append(f"<{history_url}|History in the Temporal UI>")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
    ]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": f"{title}: {text}", "blocks": blocks}


async def post_json(
    service: str, url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10.0
) -> str:
    async with httpx.AsyncClient(timeout=timeout) as http:
        response = await http.post(url, json=body, headers=headers or {})
    check_http(service, response.status_code, response.text, dict(response.headers))
    return f"{service} answered {response.status_code}"
