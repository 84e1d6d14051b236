"""A loopback fake of the Jira Cloud REST API v3, for comments back on issues.

    jira = FakeJira(email="bot@shop.example", token="jira-token")
    jira.add_issue("SUP-7")

* `POST /rest/api/3/issue/{key}/comment` with `{"body": <ADF doc>, "visibility"?: {"type", "value"}}`
  → 201 the comment; a body that is not an ADF doc → 400 `errorMessages`.
* `GET /rest/api/3/issue/{key}/comment?startAt&maxResults` → `{"startAt", "maxResults", "total", "comments"}`.
* `PUT /rest/api/3/issue/{key}` with `fields.priority.name` and `update.labels[].add` → 204.
* Basic auth `email:token`, else 401; unknown issue → 404; `rate_limit_next` → 429 + Retry-After.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.fakes.http import Answer, FakeHttpService

_ISSUE = re.compile(r"^/rest/api/3/issue/([^/]+)$")
_COMMENT = re.compile(r"^/rest/api/3/issue/([^/]+)/comment$")


def adf_plain(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        return "\n".join(adf_plain(c) for c in node.get("content") or [])
    return ""


class FakeJira(FakeHttpService):
    account_id = "557058:bot"

    def __init__(self, email: str = "bot@shop.example", token: str = "jira-token") -> None:
        self.email, self.token = email, token
        self.issues: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(10000)
        super().__init__()

    def add_issue(self, key: str, priority: str = "Medium") -> None:
        with self.lock:
            self.issues[key] = {"key": key, "priority": priority, "labels": [], "comments": []}

    def comments(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c, text=adf_plain(c["body"])) for c in self.issues[key]["comments"]]

    def handle(self, method: str, path: str, query: str, body: Any, headers: Any) -> Answer:
        if self.basic_auth(headers) != (self.email, self.token):
            return Answer(401, {"errorMessages": ["You are not authenticated. Authentication required."]})
        match = _COMMENT.match(path) or _ISSUE.match(path)
        if not match or match.group(1) not in self.issues:
            return Answer(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]})
        issue = self.issues[match.group(1)]
        if path.endswith("/comment"):
            if method == "GET":
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                start, size = int(params.get("startAt", 0)), int(params.get("maxResults", 50))
                return Answer(
                    200,
                    {
                        "startAt": start,
                        "maxResults": size,
                        "total": len(issue["comments"]),
                        "comments": issue["comments"][start : start + size],
                    },
                )
            doc = body.get("body") if isinstance(body, dict) else None
            if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
                return Answer(400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid ADF."}})
            comment = {"id": str(next(self._ids)), "author": {"accountId": self.account_id}, "body": doc}
            if "visibility" in body:
                comment["visibility"] = body["visibility"]
            issue["comments"].append(comment)
            return Answer(201, comment)
        if method != "PUT" or not isinstance(body, dict):
            return Answer(405, {"errorMessages": ["method not allowed"]})
        priority = (body.get("fields") or {}).get("priority")
        if isinstance(priority, dict):
            issue["priority"] = priority.get("name")
        for op in (body.get("update") or {}).get("labels", []):
            if "add" in op and op["add"] not in issue["labels"]:
                issue["labels"].append(op["add"])
        return Answer(204)
