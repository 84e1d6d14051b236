"""The customer's personal case link, added to customer messages when they are sent (email and
public ticket comments): `See your case: <RECOVERY_PUBLIC_URL>/c/<token>` (recovery/links.py).
The follow-up question (`follow_up_request`) also carries one link per score, `<case url>?score=N`:
each opens the page with that score chosen, and the customer confirms there with one POST (a GET
changes nothing, so a mail scanner opening every link answers nothing).

Added at delivery rather than in the workflow's templates, so cases already running get it and no
workflow release is needed. A link never holds a message back: without the customer's id in the
store yet, or with PostgreSQL unreachable, the message goes out without it.
"""

from __future__ import annotations

import os

import asyncpg
import structlog

from activities.store import DATABASE_DOWN
from recovery.links import Links
from workflows.effects import Notification

log = structlog.get_logger("notifications")

LINK_LABEL = "See your case:"
SCORE_TEMPLATES = frozenset({"follow_up_request"})
"""Customer messages that ask for a score and carry one link per score."""
SCORE_INTRO = "How did we do? Choose a score, 1 (poor) to 5 (great), then confirm it on the page:"
NON_ESSENTIAL = frozenset({"status_update"})
"""Customer messages a customer may turn off from their case page (`customer_optouts`)."""


class CaseLinker:
    def __init__(self, public_url: str, links: Links):
        self.public_url = public_url.rstrip("/")
        self.links = links

    @classmethod
    def from_env(cls) -> CaseLinker | None:
        """Both RECOVERY_PUBLIC_URL and RECOVERY_LINK_KEYS set, else None (messages carry no link)."""
        url = os.environ.get("RECOVERY_PUBLIC_URL", "").strip()
        links = Links.from_env()
        return cls(url, links) if url and links is not None else None

    def url(self, token: str) -> str:
        return f"{self.public_url}/c/{token}"

    async def line(self, pool: asyncpg.Pool | None, note: Notification) -> str | None:
        """The line to append to `note`'s text, or None (no store, no customer id, store down)."""
        if pool is None or note.audience != "customer":
            return None
        try:
            customer_id = await customer_of(pool, note.workflow_id)
            if customer_id is None:
                log.warning("no case link: the case is not in the store yet", key=note.key)
                return None
            token = await self.links.issue(pool, note.key, note.workflow_id, customer_id)
        except DATABASE_DOWN as err:
            log.warning("no case link: the database is unreachable", key=note.key, error=str(err))
            return None
        url = self.url(token)
        line = f"{LINK_LABEL} {url}"
        if note.template in SCORE_TEMPLATES:
            scores = "\n".join(f"{n}: {url}?score={n}" for n in range(1, 6))
            line += f"\n\n{SCORE_INTRO}\n{scores}"
        return line


async def customer_of(pool: asyncpg.Pool, workflow_id: str) -> str | None:
    found = await pool.fetchval("SELECT customer_id FROM cases WHERE workflow_id = $1", workflow_id)
    if found is None:
        found = await pool.fetchval(
            "SELECT data->>'customer_id' FROM events WHERE workflow_id = $1 AND type = 'opened' ORDER BY seq LIMIT 1",
            workflow_id,
        )
    return str(found) if found else None


async def opted_out(pool: asyncpg.Pool, workflow_id: str) -> bool:
    """Whether the customer of this case turned non-essential messages off on their case page."""
    customer_id = await customer_of(pool, workflow_id)
    if customer_id is None:
        return False
    return bool(await pool.fetchval("SELECT 1 FROM customer_optouts WHERE customer_id = $1", customer_id))


def with_link(text: str, line: str | None) -> str:
    return f"{text}\n\n{line}" if line else text
