"""The console's prevention pages, signed in over httpx against the in-process app (the real dev
server, worker and PostgreSQL): the form reached from a cause's link (`/prevention/new?cause=…`, the
URL an alert can link to), opening an action, the causes page showing it per cause, and closing it
with a note; leads only, CSRF-checked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.activities.test_reports import Case
from tests.starter.test_prevention_api import api  # noqa: F401 (the fixture)

HTML = {"Accept": "text/html"}
TOKENS = {"lena": "dev-lena-0123456789a", "alice": "dev-alice-0123456789", "bob": "dev-bob-0123456789ab"}


async def sign_in(http: httpx.AsyncClient, who: str) -> None:
    http.cookies.clear()
    form = await http.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    signed = await http.post("/login", data={"csrf": csrf.group(1), "token": TOKENS[who], "next": "/"})
    assert signed.status_code == 303, signed.text


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def test_a_lead_opens_an_action_from_a_cause_and_closes_it_with_a_note(
    api: httpx.AsyncClient,  # noqa: F811
    db: asyncpg.Pool,
) -> None:
    from activities.store.projection import ProjectionBatch, project

    closed = Case("pc1", datetime.now(UTC) - timedelta(days=3), "normal").close(timedelta(hours=5), "wrong-item")
    assert await project(db, ProjectionBatch(workflow_id="complaint-pc1", case_id="pc1", events=closed.events))
    await sign_in(api, "lena")
    causes = await api.get("/reports/causes", headers=HTML)
    assert causes.status_code == 200 and 'href="/prevention/new?cause=wrong-item"' in causes.text, causes.text

    form = await api.get("/prevention/new", params={"cause": "wrong-item"}, headers=HTML)
    assert form.status_code == 200
    assert 'name="cause" required maxlength="100" value="wrong-item"' in form.text
    assert '<option value="bob">' in form.text  # agents may own one
    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    fields = {"cause": "wrong-item", "description": "Scan both labels at packing", "owner": "bob", "due": due}

    refused = await api.post("/prevention", data={**fields, "csrf": "forged"})
    assert refused.status_code == 403 and "security token" in refused.text
    bad = await api.post("/prevention", data={**fields, "owner": "nobody", "csrf": csrf_of(form)})
    assert bad.status_code == 422 and "neither an agent nor a person of the roster" in bad.text
    assert 'value="wrong-item"' in bad.text  # the form keeps what was typed
    opened = await api.post("/prevention", data={**fields, "csrf": csrf_of(form)})
    assert opened.status_code == 303, opened.text
    action_id = opened.headers["location"].split("opened=")[1]
    assert action_id.startswith("prevention-wrong-item-")

    listed = await api.get(opened.headers["location"], headers=HTML)
    assert listed.status_code == 200 and f"Prevention action {action_id} is open" in listed.text
    open_section = listed.text.split('id="open"')[1].split('id="done"')[0]
    assert action_id in open_section and "Scan both labels at packing" in open_section
    causes = await api.get("/reports/causes", headers=HTML)
    prevention = causes.text.split('id="prevention"')[1]
    assert action_id in prevention and "bob" in prevention

    blank = await api.post(f"/prevention/{action_id}/done", data={"note": " ", "csrf": csrf_of(listed)})
    assert blank.status_code == 422 and "note is required" in blank.text
    done = await api.post(f"/prevention/{action_id}/done", data={"note": "Second scan added", "csrf": csrf_of(listed)})
    assert done.status_code == 303, done.text
    shown = await api.get("/prevention", headers=HTML)
    done_section = shown.text.split('id="done"')[1]
    assert action_id in done_section and "Second scan added" in done_section
    # One case of the cause closed in the 4 weeks before: 0.25 a week; none since, too early to tell.
    assert "0.25 → too early to tell" in done_section
    again = await api.post(f"/prevention/{action_id}/done", data={"note": "again", "csrf": csrf_of(shown)})
    assert again.status_code == 409 and "already done" in again.text
    row = await db.fetchrow("SELECT status, note, done_by FROM prevention_actions WHERE action_id = $1", action_id)
    assert tuple(row) == ("done", "Second scan added", "lena")


async def test_an_agent_may_not_open_an_action(api: httpx.AsyncClient) -> None:  # noqa: F811
    assert (await api.get("/prevention", headers=HTML)).status_code == 303  # sign in first
    await sign_in(api, "alice")
    form = await api.get("/prevention/new", params={"cause": "wrong-item"}, headers=HTML)
    assert form.status_code == 403 and "may not open prevention actions" in form.text
    assert 'action="/prevention"' not in form.text
    page = await api.get("/prevention", headers=HTML)
    assert page.status_code == 200 and "Open a prevention action" not in page.text
    posted = await api.post(
        "/prevention",
        data={"cause": "x", "description": "y", "owner": "bob", "due": "2030-01-01", "csrf": csrf_of(page)},
    )
    assert posted.status_code == 403
