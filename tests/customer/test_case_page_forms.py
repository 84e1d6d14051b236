"""The case page's forms in process (starter/customer/actions.py, answers.py): the CSRF token bound
to the link, and every bad input refused with a plain message and the customer's text shown back,
before anything reaches the case (Temporal is deliberately absent here: a refused form never needs
it). The score thresholds and the score → update mapping. The Notifier skipping status updates for
a customer who opted out. Real PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import ActivityEnvironment

import starter.customer
from activities.notifications import Notifier
from recovery.links import Links, LinkSigner
from starter.customer.answers import MAX_COMMENT, ThresholdError, Thresholds, score_step
from starter.customer.page import Limiter
from tests.helpers import fast_policy
from workflows.complaint import ComplaintWorkflow
from workflows.effects import Notification, NotifyContext
from workflows.models import CustomerMessageInput, FollowUpInput
from workflows.policy import FollowUpPolicy

KEYS = [("k2", b"case-form-test-secret-2")]
OLD = [("k1", b"case-form-test-secret-1")]
WORKFLOW = "complaint-cust-form:ord-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


def test_the_form_token_is_bound_to_the_link_and_survives_a_rotation() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    old = LinkSigner(OLD)
    rotated = LinkSigner(KEYS + OLD)
    token = old.form_token(one)
    assert old.check_form_token(one, token)
    assert rotated.check_form_token(one, token)  # a page rendered before the rotation still posts
    assert rotated.form_token(one) != token  # new pages: the new signing key
    assert not old.check_form_token(two, token)  # another link's page has none that fits
    assert not LinkSigner(KEYS).check_form_token(one, token)  # the old key removed: refused
    assert not old.check_form_token(one, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert not old.check_form_token(one, "") and not old.check_form_token(one, "x" * 500)
    link = old.sign(one, datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert token not in link  # its own purpose: never the link's MAC


def test_thresholds_and_what_each_score_does() -> None:
    t = Thresholds()
    assert [t.outcome(n) for n in range(1, 6)] == ["unsatisfied"] * 2 + ["middle"] + ["satisfied"] * 2
    outcome, step, inp = score_step(5, "Lovely", t, "e1")
    assert step is ComplaintWorkflow.complete_follow_up and isinstance(inp, FollowUpInput)
    assert (inp.outcome.value, inp.csat, inp.note, inp.actor.id, inp.actor.role) == (
        "satisfied",
        5,
        "Lovely",
        "customer",
        "customer",
    )
    _, _, low = score_step(2, "Still broken", t, "e2")
    assert isinstance(low, FollowUpInput) and (low.outcome.value, low.csat, low.note) == (
        "unsatisfied",
        2,
        "Still broken",
    )
    outcome, step, mid = score_step(3, "So-so", t, "e3")
    assert outcome == "middle" and step is ComplaintWorkflow.customer_message
    assert isinstance(mid, CustomerMessageInput) and mid.text == "The customer scored 3: So-so" and mid.event_id == "e3"
    _, _, long_mid = score_step(3, "x" * MAX_COMMENT, t, "e4")  # the longest comment still fits
    assert isinstance(long_mid, CustomerMessageInput)
    assert Thresholds(satisfied_at=5, unsatisfied_at=3).outcome(4) == "middle"
    for bad in ({"satisfied_at": 3, "unsatisfied_at": 3}, {"satisfied_at": 6}, {"unsatisfied_at": 0}):
        with pytest.raises(ThresholdError):
            Thresholds(**bad)  # type: ignore[arg-type]


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOVERY_SATISFIED_AT", "5")
    monkeypatch.setenv("RECOVERY_UNSATISFIED_AT", "3")
    assert Thresholds.from_env() == Thresholds(5, 3)
    # The policy's [follow_up] keys are the thresholds; the old settings, when set, still override them.
    stricter = fast_policy().model_copy(update={"follow_up": FollowUpPolicy(satisfied_at=5, unsatisfied_at=1)})
    assert Thresholds.of(stricter) == Thresholds(5, 3)
    monkeypatch.delenv("RECOVERY_SATISFIED_AT")
    monkeypatch.delenv("RECOVERY_UNSATISFIED_AT")
    assert Thresholds.of(stricter) == Thresholds(5, 1) and Thresholds.of(fast_policy()) == Thresholds(4, 2)
    monkeypatch.setenv("RECOVERY_SATISFIED_AT", "five")
    with pytest.raises(ThresholdError, match="RECOVERY_SATISFIED_AT"):
        Thresholds.from_env()


async def stored_case(db: asyncpg.Pool, step: str = "follow_up") -> None:
    status = {
        "step": step,
        "customer_name": "Dana Example",
        "subject": "Mug chipped",
        "deadlines": {"follow_up_asked": True, "due_at": None},
    }
    await db.execute(
        "INSERT INTO case_status (workflow_id, case_id, last_seq, status) VALUES ($1, $2, 7, $3::jsonb)",
        WORKFLOW,
        WORKFLOW.removeprefix("complaint-"),
        json.dumps(status),
    )


@pytest.fixture
async def page(db: asyncpg.Pool) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    links = Links(KEYS)

    async def database() -> asyncpg.Pool:
        return db

    app = FastAPI()
    app.state.temporal = None  # any update would fail: none must be tried
    settings = SimpleNamespace(database=database, links=links, timer=lambda: 0.0, thresholds=Thresholds())
    starter.customer.install(app, settings, Limiter(lambda: 0.0, per_link=1000, per_address=1000))
    await stored_case(db)
    token = await links.issue(db, "k-form", WORKFLOW, "cust-form")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://page") as http:
        yield http, token


async def test_bad_forms_are_refused_plainly_and_keep_what_was_typed(page: tuple[httpx.AsyncClient, str]) -> None:
    http, token = page
    first = await http.get(f"/c/{token}?score=4")
    assert first.status_code == 200
    assert 'value="4" required checked' in first.text  # the email's score link: preselected
    assert "form-action 'self'" in first.headers["content-security-policy"]
    csrf, nonce = CSRF.search(first.text).group(1), NONCE.search(first.text).group(1)  # type: ignore[union-attr]
    ok = {"csrf": csrf, "nonce": nonce}

    async def post(path: str, **fields: str) -> httpx.Response:
        return await http.post(f"/c/{token}/{path}", data=fields)

    # Missing or foreign CSRF token: refused, nothing done
    for fields in ({"score": "5"}, {"score": "5", "csrf": "forged", "nonce": nonce}):
        refused = await post("answer", **fields)
        assert refused.status_code == 403 and "did not come from your page" in refused.text
    other = LinkSigner(KEYS).form_token(uuid.uuid4())  # a real token, of another link
    refused = await post("message", text="Hello", csrf=other, nonce=nonce)
    assert refused.status_code == 403 and "Hello</textarea>" in refused.text  # kept, not sent

    # Bad scores, with the comment kept
    for score in ("", "0", "6", "3.5", "five", "12"):
        refused = await post("answer", **ok, score=score, comment="Box was dented")
        assert refused.status_code == 400 and "choose a score from 1 to 5" in refused.text, score
        assert "Box was dented</textarea>" in refused.text

    # Too long, control characters, empty: a plain message, the text back in the box
    long = "é" * 4001
    refused = await post("message", **ok, text=long)
    assert refused.status_code == 400 and "4,001 characters long; we can take 4,000 at most" in refused.text
    assert f">{long}</textarea>" in refused.text and NONCE.search(refused.text).group(1) == nonce  # type: ignore[union-attr]
    refused = await post("answer", **ok, score="2", comment="x" * (MAX_COMMENT + 1))
    assert refused.status_code == 400 and f"we can take {MAX_COMMENT:,} at most" in refused.text
    assert 'value="2" required checked' in refused.text  # the chosen score kept too
    for bad in ("Ring\x07ring", "nul\x00here", "esc\x1b[31m", "c1\x85c1"):
        refused = await post("message", **ok, text=bad)
        assert refused.status_code == 400 and "control character" in refused.text, repr(bad)
        assert "U+00" in refused.text
    assert (await post("message", **ok, text="  \r\n ")).status_code == 400
    refused = await post("message", csrf=csrf, nonce="short", text="Hello there")
    assert refused.status_code == 400 and "Hello there</textarea>" in refused.text
    assert (await post("updates", csrf=csrf, status_updates="maybe")).status_code == 400

    # A line break typed in the box is fine; the update would then go to the case (none here: 503)
    unavailable = await post("message", **ok, text="Line one\r\nLine two")
    assert unavailable.status_code == 503 and "Line one\r\nLine two</textarea>" in unavailable.text


async def test_the_opt_out_is_stored_and_shown(page: tuple[httpx.AsyncClient, str], db: asyncpg.Pool) -> None:
    http, token = page
    csrf = CSRF.search((await http.get(f"/c/{token}")).text).group(1)  # type: ignore[union-attr]
    done = await http.post(f"/c/{token}/updates", data={"csrf": csrf, "status_updates": "off"})
    assert done.status_code == 303 and done.headers["location"] == f"/c/{token}?sent=optout"
    assert await db.fetchval("SELECT customer_id FROM customer_optouts") == "cust-form"
    after = await http.get(done.headers["location"])
    assert "won&#39;t send you status updates" in after.text and "Send me status updates again" in after.text
    await http.post(f"/c/{token}/updates", data={"csrf": csrf, "status_updates": "on"})
    assert await db.fetchval("SELECT count(*) FROM customer_optouts") == 0


def note(template: str, key: str) -> Notification:
    ctx = NotifyContext(
        at=datetime.now(timezone.utc),
        customer_email="dana@example.com",
        ticket_source="generic",
        ticket_id="1",
        channel="email",
        severity="normal",
    )
    params = {"customer": "Dana", "subject": "Mug chipped", "case": "c", "step": "fix", "message": "Sorry."}
    return Notification(
        key=key,
        case_id=WORKFLOW.removeprefix("complaint-"),
        workflow_id=WORKFLOW,
        audience="customer",
        recipient="customer",
        template=template,
        params=params | {"fix_due": "soon"},
        context=ctx,
    )


async def test_status_updates_are_skipped_for_a_customer_who_opted_out(db: asyncpg.Pool) -> None:
    from activities.channels.email import SmtpConfig

    await db.execute(
        "INSERT INTO events (workflow_id, seq, case_id, type, at, actor, data) VALUES ($1, 1, $2, 'opened', now(), "
        "'engine', $3::jsonb)",
        WORKFLOW,
        WORKFLOW.removeprefix("complaint-"),
        json.dumps({"customer_id": "cust-form"}),
    )
    notifier = Notifier(smtp=SmtpConfig.from_url("smtp://127.0.0.1:1", "care@shop.example"), pool=db, store=db)
    env = ActivityEnvironment()
    before = await env.run(notifier.plan, note("status_update", "k:1"))
    assert before.targets and not before.skipped  # not opted out: sent
    await db.execute("INSERT INTO customer_optouts (customer_id) VALUES ('cust-form')")
    skipped = await env.run(notifier.plan, note("status_update", "k:2"))
    assert not skipped.targets and skipped.recorded
    assert skipped.skipped == ["customer: opted out of status updates (case page)"]
    essential = await env.run(notifier.plan, note("acknowledgement", "k:3"))
    assert essential.targets and not essential.skipped  # promises and outcomes still go out
    logged = await db.fetch("SELECT key FROM customer_messages ORDER BY key")
    assert [r["key"] for r in logged] == ["k:1", "k:3"]  # the skipped one was never "sent"
