"""A loopback fake of the Zendesk Support API (v2 shapes), for comments back on tickets.

    zd = FakeZendesk(email="bot@shop.example", token="zd-token")
    zd.add_ticket("123", requester_id=9001)
    ... RECOVERY_ZENDESK_URL=zd.url, _EMAIL=zd.email, _TOKEN=zd.token ...

* `PUT /api/v2/tickets/{id}.json` with `{"ticket": {"comment": {"body", "public"}, "priority",
  "tags", "additional_tags", "status"}}` → 200 `{"ticket": …, "audit": …}`; unknown ticket → 404
  `RecordNotFound`.
* `GET /api/v2/tickets/{id}.json` and `GET /api/v2/tickets/{id}/comments.json` (`comments`,
  `next_page`, `count`; pages of `per_page`, default 100).
* API token auth: basic `"{email}/token:{token}"`, else 401 `{"error": "Couldn't authenticate you"}`.
* `rate_limit_next`: 429 with `Retry-After` (see tests/fakes/http.py).

Comments posted through the API are authored by the API user (`api_user_id`); `agent_reply` and
`customer_reply` add comments as an agent or the requester would (for intake tests).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.fakes.http import Answer, FakeHttpService

_TICKET = re.compile(r"^/api/v2/tickets/([^/]+)\.json$")
_COMMENTS = re.compile(r"^/api/v2/tickets/([^/]+)/comments\.json$")


class FakeZendesk(FakeHttpService):
    api_user_id = 7000

    def __init__(self, email: str = "bot@shop.example", token: str = "zd-token", per_page: int = 100) -> None:
        self.email, self.token, self.per_page = email, token, per_page
        self.tickets: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        super().__init__()

    def add_ticket(self, ticket_id: str, requester_id: int = 9001, priority: str = "normal") -> dict[str, Any]:
        with self.lock:
            ticket = {"id": int(ticket_id), "requester_id": requester_id, "priority": priority, "status": "open",
                      "tags": [], "comments": []}
            self.tickets[ticket_id] = ticket
            return ticket

    def comments(self, ticket_id: str, *, public: bool | None = None) -> list[dict[str, Any]]:
        with self.lock:
            found = self.tickets[ticket_id]["comments"]
            return [dict(c) for c in found if public is None or c["public"] is public]

    def add_comment(self, ticket_id: str, body: str, author_id: int, public: bool = True) -> dict[str, Any]:
        with self.lock:
            comment = {"id": next(self._ids), "type": "Comment", "body": body, "html_body": f"<p>{body}</p>",
                       "public": public, "author_id": author_id, "created_at": "2026-11-20T10:00:00Z"}
            self.tickets[ticket_id]["comments"].append(comment)
            return comment

    def handle(self, method: str, path: str, query: str, body: Any, headers: Any) -> Answer:
        if self.basic_auth(headers) != (f"{self.email}/token", self.token):
            return Answer(401, {"error": "Couldn't authenticate you"})
        match = _TICKET.match(path) or _COMMENTS.match(path)
        if not match or match.group(1) not in self.tickets:
            return Answer(404, {"error": "RecordNotFound", "description": "Not found"})
        ticket = self.tickets[match.group(1)]
        if path.endswith("/comments.json"):
            page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", "1"))
            chunk = ticket["comments"][(page - 1) * self.per_page: page * self.per_page]
            more = page * self.per_page < len(ticket["comments"])
            next_page = f"{self.url}{path}?page={page + 1}" if more else None
            return Answer(200, {"comments": chunk, "next_page": next_page, "previous_page": None,
                                "count": len(ticket["comments"])})
        if method == "GET":
            return Answer(200, {"ticket": self._public(ticket)})
        if method != "PUT" or not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
            return Answer(400, {"error": "InvalidEndpoint"})
        update = body["ticket"]
        if "priority" in update:
            if update["priority"] not in ("low", "normal", "high", "urgent"):
                return Answer(422, {"error": "RecordInvalid", "details": {"priority": "invalid"}})
            ticket["priority"] = update["priority"]
        if "status" in update:
            ticket["status"] = update["status"]
        if "tags" in update:
            ticket["tags"] = list(update["tags"])
        for tag in update.get("additional_tags", []):
            if tag not in ticket["tags"]:
                ticket["tags"].append(tag)
        comment = update.get("comment")
        if isinstance(comment, dict):
            self.add_comment(match.group(1), str(comment.get("body", "")), self.api_user_id,
                             bool(comment.get("public", True)))
        return Answer(200, {"ticket": self._public(ticket), "audit": {"id": next(self._ids), "events": []}})

    @staticmethod
    def _public(ticket: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ticket.items() if k != "comments"}
