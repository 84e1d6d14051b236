"""The channels notifications go out on: email (SMTP), ticket comments (Zendesk, Jira), chat
(Slack incoming webhooks, a generic JSON webhook). Each raises `Rejected` for an answer that no
retry will change (bad credentials, unknown ticket) and `RetryLater` for a rate limit."""

from __future__ import annotations


class Rejected(Exception):
    """The other side refused for good (401, 403, 404, 400): retrying would not help."""


class RetryLater(Exception):
    """Rate limited or briefly unavailable: try again after `after` seconds (its Retry-After)."""

    def __init__(self, message: str, after: float | None):
        super().__init__(message)
        self.after = after


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date counts as unknown)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def check_http(service: str, status: int, body: str, headers: dict[str, str] | None = None) -> None:
    """Raise the right error for a non-2xx answer of `service`."""
    if status < 300:
        return
    snippet = " ".join(body.split())[:200]
    if status == 429 or status == 503:
        raise RetryLater(
            f"{service} answered {status} (rate limited): {snippet}", retry_after((headers or {}).get("retry-after"))
        )
    if status in (400, 401, 403, 404, 410, 422):
        hint = {
            401: " — check the API credentials",
            403: " — the API user lacks permission",
            404: " — no such ticket, issue or webhook",
        }.get(status, "")
        raise Rejected(f"{service} answered {status}{hint}: {snippet}")
    raise RuntimeError(f"{service} answered {status}: {snippet}")
