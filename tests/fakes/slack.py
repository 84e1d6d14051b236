"""A loopback fake of Slack incoming webhooks (`POST /services/T…/B…/…`, JSON `text` + `blocks`).

Answers as Slack does: 200 `ok`; 400 `invalid_payload` (no text and no blocks, or a block without a
type); 404 `no_service` (a hook URL it does not know); 410 `channel_is_archived` (`archive(url)`);
429 with Retry-After (`rate_limit_next`); 503 while Slack is down (`down_next`: that many posts).
`hook(name)` makes a URL; `posts(url)` what it received.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.http import Answer, FakeHttpService


class FakeSlack(FakeHttpService):
    def __init__(self) -> None:
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.archived: set[str] = set()
        self.down_next = 0
        super().__init__()

    def hook(self, name: str) -> str:
        path = f"/services/T0RECOVERY/B{name.upper()}/secret{name}"
        with self.lock:
            self.hooks[path] = []
        return self.url + path

    def unknown_hook(self) -> str:
        return self.url + "/services/T0RECOVERY/BNOBODY/gone"

    def archive(self, url: str) -> None:
        self.archived.add(url.removeprefix(self.url))

    def posts(self, url: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.hooks[url.removeprefix(self.url)])

    def handle(self, method: str, path: str, query: str, body: Any, headers: Any) -> Answer:
        with self.lock:
            if self.down_next > 0:
                self.down_next -= 1
                return Answer(503, "service_unavailable")
        if method != "POST" or path not in self.hooks:
            return Answer(404, "no_service")
        if path in self.archived:
            return Answer(410, "channel_is_archived")
        if (
            not isinstance(body, dict)
            or not (body.get("text") or body.get("blocks"))
            or any(not isinstance(b, dict) or "type" not in b for b in body.get("blocks", []))
        ):
            return Answer(400, "invalid_payload")
        self.hooks[path].append(body)
        return Answer(200, "ok")
