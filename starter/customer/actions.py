"""The case page's POSTs, the only requests of the customer's that change anything:

* `POST /c/{token}/answer` (score, comment): the follow-up answered (starter/customer/answers.py);
* `POST /c/{token}/pick` (option): the customer's choice among the remedies offered (`pick_remedy`);
* `POST /c/{token}/message` (text): the reply box, a customer message as a ticket reply is;
* `POST /c/{token}/updates` (status_updates=off|on): the customer's opt-out of status updates.

Each carries the link's CSRF token (`LinkSigner.form_token`, an HMAC of the link id) and passes the
page's rate limits. Done: 303 back to the page with a thank-you (`?sent=…`), so a reload does not
post again. Refused (bad input, or the case refused the update): the page again, with a plain
message and everything the customer typed, 400/409/503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from recovery.links import CaseLink, Links
from starter.cases import CaseError, accept_step
from starter.customer.answers import (
    MAX_COMMENT,
    MAX_MESSAGE,
    Refused,
    Thresholds,
    check_nonce,
    clean_text,
    event_id,
    message_step,
    parse_option,
    parse_score,
    pick_refusal,
    pick_step,
    refusal,
    score_step,
)
from starter.customer.page import HEADERS, not_found, render_case
from starter.customer.readmodel import customer_case, opted_out

log = structlog.get_logger("customer")

Resolve = Callable[[Request, str], Awaitable[tuple[Any, CaseLink] | Response]]


async def form_of(request: Request) -> dict[str, str]:
    raw = await request.body()
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def install_actions(router: APIRouter, settings: Any, links: Links | None, resolve: Resolve) -> None:
    thresholds: Thresholds = getattr(settings, "thresholds", None) or Thresholds.of(getattr(settings, "policy", None))

    def done(token: str, sent: str) -> Response:
        return RedirectResponse(f"/c/{token}?sent={sent}", status_code=303, headers=HEADERS)

    async def again(
        pool: Any, link: CaseLink, token: str, refused: Refused, form: str, fields: dict[str, str]
    ) -> Response:
        """The page once more, with the refusal and what the customer typed (their nonce kept: the
        same message, once fixed, is still one message)."""
        case = await customer_case(pool, link.workflow_id)
        if case is None or refused.status == 404:
            return not_found()
        assert links is not None
        score = fields.get("score", "")
        return render_case(
            links,
            link,
            token,
            case,
            opted_out=await opted_out(pool, link.customer_id),
            status=refused.status,
            score=int(score) if len(score) == 1 and score in "12345" else None,
            option=int(fields["option"]) if fields.get("option", "") in ("1", "2", "3", "4") else None,
            comment=fields.get("comment", "") if form == "answer" else "",
            reply=fields.get("text", "") if form == "message" else "",
            nonce=fields.get("nonce") if form != "updates" and _nonce_ok(fields.get("nonce")) else None,
            error=refused.message,
            error_form=form,
        )

    async def admitted(request: Request, token: str, form: str) -> tuple[Any, CaseLink, dict[str, str]] | Response:
        found = await resolve(request, token)
        if isinstance(found, Response):
            return found
        pool, link = found
        assert links is not None and link.link_id is not None
        fields = await form_of(request)
        if not links.signer.check_form_token(link.link_id, fields.get("csrf", "")):
            refused = Refused(403, "This form has expired or did not come from your page. Please send it again.")
            return await again(pool, link, token, refused, form, fields)
        return pool, link, fields

    async def update(request: Request, link: CaseLink, step: Any, inp: Any, form: str) -> None:
        """Run the update through starter/cases.py, as the API does; a refusal as `Refused`."""
        try:
            client = await request.app.state.temporal.get()
            await accept_step(client, link.workflow_id, step, inp)
        except CaseError as err:
            log.info("customer's form refused by the case", workflow_id=link.workflow_id, form=form, code=err.code)
            raise (pick_refusal(err.code, err.message) if form == "pick" else refusal(err.code, form)) from None
        except Exception as err:  # Temporal unreachable (ApiError 503) or any outage
            log.warning("customer's form not delivered", workflow_id=link.workflow_id, form=form, error=str(err))
            raise refusal("unavailable", form) from None

    @router.post("/c/{token}/answer")
    async def answer(request: Request, token: str) -> Response:
        got = await admitted(request, token, "answer")
        if isinstance(got, Response):
            return got
        pool, link, fields = got
        assert link.link_id is not None
        try:
            score = parse_score(fields.get("score"))
            comment = clean_text(fields.get("comment"), "comment", MAX_COMMENT)
            nonce = check_nonce(fields.get("nonce"))
            outcome, step, inp = score_step(score, comment, thresholds, event_id("score", link.link_id, nonce))
            await update(request, link, step, inp, "answer")
        except Refused as refused:
            return await again(pool, link, token, refused, "answer", fields)
        log.info("customer answered the follow-up", workflow_id=link.workflow_id, score=score, outcome=outcome)
        return done(token, outcome)

    @router.post("/c/{token}/pick")
    async def pick(request: Request, token: str) -> Response:
        got = await admitted(request, token, "pick")
        if isinstance(got, Response):
            return got
        pool, link, fields = got
        try:
            case = await customer_case(pool, link.workflow_id)
            if case is None:
                raise Refused(404, "")
            if case.offer is None:
                raise Refused(409, "There is no choice to make on your case just now. You can write to us below.")
            option = parse_option(fields.get("option"), len(case.offer.options))
            step, inp = pick_step(option)
            await update(request, link, step, inp, "pick")
        except Refused as refused:
            return await again(pool, link, token, refused, "pick", fields)
        log.info("customer picked a remedy", workflow_id=link.workflow_id, option=option)
        return done(token, "picked")

    @router.post("/c/{token}/message")
    async def message(request: Request, token: str) -> Response:
        got = await admitted(request, token, "message")
        if isinstance(got, Response):
            return got
        pool, link, fields = got
        assert link.link_id is not None
        try:
            text = clean_text(fields.get("text"), "message", MAX_MESSAGE)
            if not text:
                raise Refused(400, "Please write your message first.")
            nonce = check_nonce(fields.get("nonce"))
            step, inp = message_step(text, event_id("reply", link.link_id, nonce))
            await update(request, link, step, inp, "message")
        except Refused as refused:
            return await again(pool, link, token, refused, "message", fields)
        log.info("customer wrote from the case page", workflow_id=link.workflow_id)
        return done(token, "message")

    @router.post("/c/{token}/updates")
    async def updates(request: Request, token: str) -> Response:
        got = await admitted(request, token, "updates")
        if isinstance(got, Response):
            return got
        pool, link, fields = got
        choice = fields.get("status_updates")
        if choice == "off":
            await pool.execute(
                "INSERT INTO customer_optouts (customer_id, link_id) VALUES ($1, $2) ON CONFLICT (customer_id) "
                "DO UPDATE SET opted_out_at = now(), link_id = excluded.link_id",
                link.customer_id,
                link.link_id,
            )
        elif choice == "on":
            await pool.execute("DELETE FROM customer_optouts WHERE customer_id = $1", link.customer_id)
        else:
            return await again(pool, link, token, Refused(400, "Please choose on or off."), "updates", fields)
        log.info("customer changed status updates", workflow_id=link.workflow_id, status_updates=choice)
        return done(token, "optout" if choice == "off" else "optin")


def _nonce_ok(value: str | None) -> bool:
    try:
        check_nonce(value)
    except Refused:
        return False
    return True
