"""Comments back on the source ticket: Zendesk and Jira REST APIs.

Zendesk (`RECOVERY_ZENDESK_URL`, `RECOVERY_ZENDESK_USER`, `RECOVERY_ZENDESK_TOKEN`; API token auth
`email/token:token`): `PUT /api/v2/tickets/{id}.json` with
`{"ticket": {"comment": {"body", "public"}, "priority", "additional_tags"}}` — one request, so the
comment, the priority raise and the tag land together; `GET /api/v2/tickets/{id}/comments.json`.

Jira (`RECOVERY_JIRA_URL`, `RECOVERY_JIRA_USER`, `RECOVERY_JIRA_TOKEN`; basic auth with an API
token): `POST /rest/api/3/issue/{key}/comment` with an Atlassian Document Format body (internal
notes carry `visibility`, by default the role `Administrators`: `RECOVERY_JIRA_INTERNAL_ROLE`);
`GET` the same path to list; `PUT /rest/api/3/issue/{key}` for priority and labels.

Neither platform takes an idempotency key for comments, so each comment ends with a marker line
`recovery-ref: <delivery key>` and the client lists the ticket's comments before posting: a resend
after a crash finds its own marker and posts nothing. Intake ignores comments carrying a marker, so
the engine's own comments never come back in as ticket events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

from activities.channels import check_http, tls

MARKER = "recovery-ref:"


def marked(body: str, key: str) -> str:
    return f"{body}\n\n{MARKER} {key}"


def has_marker(text: str) -> bool:
    return MARKER in text


@dataclass(frozen=True)
class Escalation:
    level: int
    tag: str


def _adf(text: str) -> dict[str, Any]:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


def adf_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        return " ".join(adf_text(c) for c in node.get("content") or [])
    if isinstance(node, list):
        return " ".join(adf_text(c) for c in node)
    return str(node or "")


class ZendeskClient:
    PRIORITIES = ["low", "normal", "high", "urgent"]

    def __init__(self, base_url: str, email: str, token: str, timeout: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self._auth = (f"{email}/token", token)
        self._timeout = timeout

    @classmethod
    def from_env(cls) -> ZendeskClient | None:
        url = os.environ.get("RECOVERY_ZENDESK_URL")
        if not url:
            return None
        return cls(url, os.environ.get("RECOVERY_ZENDESK_USER", ""), os.environ.get("RECOVERY_ZENDESK_TOKEN", ""))

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, auth=self._auth, timeout=self._timeout, verify=tls.verified())

    async def _has_comment(self, http: httpx.AsyncClient, ticket: str, key: str) -> bool:
        url: str | None = f"/api/v2/tickets/{ticket}/comments.json"
        for _ in range(50):  # 100 comments a page: a bound, not a limit anyone meets
            if url is None:
                return False
            response = await http.get(url)
            check_http("Zendesk", response.status_code, response.text, dict(response.headers))
            data = response.json()
            if any(f"{MARKER} {key}" in str(c.get("body", "")) for c in data.get("comments", [])):
                return True
            url = data.get("next_page")
        return False

    async def comment(
        self, ticket: str, key: str, body: str, *, public: bool, escalation: Escalation | None = None
    ) -> str:
        async with self._client() as http:
            if await self._has_comment(http, ticket, key):
                return f"Zendesk ticket {ticket}: comment already there"
            update: dict[str, Any] = {"comment": {"body": marked(body, key), "public": public}}
            if escalation is not None:
                update["priority"] = self.PRIORITIES[min(1 + escalation.level, 3)]
                update["additional_tags"] = [escalation.tag]
            response = await http.put(f"/api/v2/tickets/{ticket}.json", json={"ticket": update})
            check_http("Zendesk", response.status_code, response.text, dict(response.headers))
        return f"Zendesk ticket {ticket}: {'public comment' if public else 'internal note'}"


class JiraClient:
    PRIORITIES = ["Low", "Medium", "High", "Highest"]

    def __init__(
        self, base_url: str, email: str, token: str, internal_role: str = "Administrators", timeout: float = 15.0
    ):
        self.base_url = base_url.rstrip("/")
        self._auth = (email, token)
        self._role = internal_role
        self._timeout = timeout

    @classmethod
    def from_env(cls) -> JiraClient | None:
        url = os.environ.get("RECOVERY_JIRA_URL")
        if not url:
            return None
        return cls(
            url,
            os.environ.get("RECOVERY_JIRA_USER", ""),
            os.environ.get("RECOVERY_JIRA_TOKEN", ""),
            os.environ.get("RECOVERY_JIRA_INTERNAL_ROLE", "Administrators"),
        )

    async def _has_comment(self, http: httpx.AsyncClient, issue: str, key: str) -> bool:
        start = 0
        for _ in range(50):
            response = await http.get(
                f"/rest/api/3/issue/{issue}/comment", params={"startAt": start, "maxResults": 100}
            )
            check_http("Jira", response.status_code, response.text, dict(response.headers))
            data = response.json()
            comments = data.get("comments", [])
            if any(f"{MARKER} {key}" in adf_text(c.get("body")) for c in comments):
                return True
            start += len(comments)
            if not comments or start >= int(data.get("total", 0)):
                return False
        return False

    async def comment(
        self, issue: str, key: str, body: str, *, public: bool, escalation: Escalation | None = None
    ) -> str:
        async with httpx.AsyncClient(
            base_url=self.base_url, auth=self._auth, timeout=self._timeout, verify=tls.verified()
        ) as http:
            detail = f"Jira issue {issue}: comment already there"
            if not await self._has_comment(http, issue, key):
                comment: dict[str, Any] = {"body": _adf(marked(body, key))}
                if not public:
                    comment["visibility"] = {"type": "role", "value": self._role}
                response = await http.post(f"/rest/api/3/issue/{issue}/comment", json=comment)
                check_http("Jira", response.status_code, response.text, dict(response.headers))
                detail = f"Jira issue {issue}: {'public comment' if public else 'internal note'}"
            if escalation is not None:  # setting a priority and adding a label twice changes nothing
                fields = {"priority": {"name": self.PRIORITIES[min(1 + escalation.level, 3)]}}
                response = await http.put(
                    f"/rest/api/3/issue/{issue}",
                    json={"fields": fields, "update": {"labels": [{"add": escalation.tag}]}},
                )
                check_http("Jira", response.status_code, response.text, dict(response.headers))
        return detail
