"""The agents' console: sign-in, the queue, the case page with its step forms, approvals, live updates.

Server-rendered HTML (Jinja2) with plain forms, so every step works without JavaScript; a small
framework-free script adds countdowns and live updates (server-sent events). Reads come from the
PostgreSQL read model; writes go through the workflow's updates exactly as the API's do.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from temporalio.client import Client

from console import csat_page, prevention, readmodel, views
from console.cause_charts import cause_charts
from console.charts import report_charts
from console.live import Changes
from console.oidc_routes import install_oidc, oidc_from
from console.query_dates import query_dates
from console.session import LOGIN_COOKIE, SESSION_COOKIE, Session, SessionKeeper
from console.session_store import PgSessions
from recovery.causes import causes_report
from recovery.causes import window as causes_window
from recovery.proactive_report import comparison_rows, money_rows, proactive_report
from recovery.validation import describe_validation_error
from starter.agents import INTAKE, VIEWER
from starter.api.errors import CASE_ERROR_STATUS
from starter.api.outage import UNREACHABLE, unavailable_page
from starter.cases import CaseError, run_step
from starter.steps import AGENT_STEPS
from workflows.models import workflow_id_for
from workflows.policy import Severity, Step

log = logging.getLogger("recovery.console")

# The steps the console offers forms for, from the one step registry (update name → step).
STEPS = {step.name: step for step in AGENT_STEPS if step.name in views.LABELS}

templates = Environment(
    loader=PackageLoader("console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


def build_router(
    settings: Any, temporal: Callable[[], Awaitable[Client]], keeper: SessionKeeper | None = None
) -> APIRouter:
    policy = settings.policy
    changes = Changes(lambda: database())
    router = APIRouter(include_in_schema=False)

    async def database() -> Any:
        if settings.database is None:
            raise RuntimeError("no database configured")
        return await settings.database()

    # Sessions in PostgreSQL (shared by the API's replicas) when there is one.
    keeper = keeper or SessionKeeper.from_env(PgSessions(database) if settings.database is not None else None)

    def approves(role: str) -> bool:
        found = policy.role(role)
        return bool(found and found.approves_up_to)

    def can_act(role: str) -> bool:
        return role not in (VIEWER, INTAKE) and role in policy.roles

    def page(
        name: str, request: Request, session: Session | None, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        clock = views.Clock(session.zone if session else views.zone_or(None, policy.calendar.time_zone))
        html = templates.get_template(name).render(
            request=request,
            me=session,
            csrf=keeper.csrf_for(session) if session else "",
            clock=clock,
            now=datetime.now(UTC),
            views=views,
            approves=approves(session.role) if session else False,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})

    oidc = oidc_from(settings)
    if oidc is not None:  # "Sign in with <provider>" beside tokens
        oidc.check_roles({*policy.roles, VIEWER})
        install_oidc(router, oidc, keeper, page, lambda: settings.agents, policy.calendar.time_zone, _safe_next)

    async def signed_in(request: Request) -> Session:
        session = await keeper.read(request.cookies.get(SESSION_COOKIE), settings.agents)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise Redirect("/login?" + urlencode({"next": target}))
        return session

    async def form_of(request: Request) -> dict[str, str]:
        # URL-encoded forms only (the console sends no files): parsed with the stdlib.
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))

    def refused_csrf(request: Request, session: Session | None) -> HTMLResponse:
        return page(
            "message.html",
            request,
            session,
            403,
            title="Request refused",
            text="This form was not sent by your console session (its security token is missing or "
            "wrong). Reload the page and try again.",
        )

    # ---- sign-in

    @router.get("/login")
    async def login_page(request: Request, next: str = "/", bye: int = 0) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
        response = page(
            "login.html",
            request,
            None,
            login_csrf=keeper.login_csrf(nonce),
            next=_safe_next(next),
            notice="You are signed out." if bye else None,
            error=None,
            oidc_name=oidc.label if oidc else None,
        )
        response.set_cookie(LOGIN_COOKIE, nonce, **keeper.cookie_options(3600))
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not nonce or not keeper.check(keeper.login_csrf(nonce), form.get("csrf")):
            return refused_csrf(request, None)
        next_url = _safe_next(form.get("next", "/"))

        def again(error: str, status: int) -> Response:
            return page(
                "login.html",
                request,
                None,
                status,
                login_csrf=keeper.login_csrf(nonce),
                next=next_url,
                notice=None,
                error=error,
                oidc_name=oidc.label if oidc else None,
            )

        actor = settings.agents.authenticate(form.get("token", "").strip()) if form.get("token", "").strip() else None
        if actor is None:
            return again("That token was not accepted. Check it and try again.", 401)
        if actor.role == INTAKE or (actor.role != VIEWER and actor.role not in policy.roles):
            return again(f"Tokens with role “{actor.role}” cannot sign in to the console.", 403)
        zone = views.zone_or(form.get("zone"), policy.calendar.time_zone)
        _, cookie = await keeper.issue(actor.id, actor.role, zone, settings.agents.fingerprint(actor.id) or "")
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, **keeper.cookie_options(int(keeper.ttl.total_seconds())))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = await keeper.read(request.cookies.get(SESSION_COOKIE), settings.agents)
        form = await form_of(request)
        if session is not None:
            if not keeper.check(keeper.csrf_for(session), form.get("csrf")):
                return refused_csrf(request, session)
            await keeper.end(session)
        response = RedirectResponse("/login?bye=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ---- the queue

    @router.get("/")
    async def queue_page(
        request: Request,
        tab: str = "",
        severity: str = "",
        step: str = "",
        source: str = "",
        customer: str = "",
        page_no: int = 1,
    ) -> Response:
        session = await signed_in(request)
        tabs = {k: v for k, v in readmodel.TABS.items() if k != "approval" or approves(session.role)}
        tab = tab if tab in tabs else "mine"
        filters = readmodel.Filters(
            severity=severity if severity in {s.value for s in Severity} else None,
            step=step if step in {s.value for s in Step} else None,
            source=source[:80] or None,
            customer=customer.strip()[:80] or None,
        )
        pool = await database()
        result = await readmodel.queue(pool, tab, session.agent, filters, max(page_no, 1))
        query = {
            k: v
            for k, v in {
                "severity": filters.severity,
                "step": filters.step,
                "source": filters.source,
                "customer": filters.customer,
            }.items()
            if v
        }
        return page(
            "queue.html",
            request,
            session,
            tab=tab,
            tabs=tabs,
            result=result,
            filters=filters,
            query=query,
            urlencode=urlencode,
            severities=[s.value for s in Severity],
            steps=[s.value for s in Step if s is not Step.CLOSED],
            sources=(await readmodel.facets(pool))["source"],
        )

    # ---- the case page and its steps

    async def case_page(
        request: Request,
        session: Session,
        case_id: str,
        status_code: int = 200,
        refused: tuple[str, dict[str, str], str] | None = None,
        notice: str | None = None,
    ) -> Response:
        pool = await database()
        workflow_id = workflow_id_for(case_id)
        view = await readmodel.case_view(pool, workflow_id)
        if view is None:
            return page(
                "message.html", request, session, 404, title="No such case", text=f"There is no case {case_id}."
            )
        me = views.Viewer(session.agent, session.role, can_act(session.role))
        forms: list[views.StepForm] = []
        granted: dict[str, Decimal] = {}
        if view.status is not None:
            since = datetime.now(UTC) - policy.compensation.cap_window
            for currency in policy.compensation.customer_cap:
                granted[currency] = await readmodel.granted_to_customer(pool, view.status.customer_id, currency, since)
            agents = [(a, r) for a, r in settings.agents.members() if can_act(r)]
            forms = views.step_forms(view.status, policy, me, agents, granted, datetime.now(UTC))
            if refused is not None:
                views.refill(forms, *refused)
        # A refusal of a step not offered here (a crafted POST, or the case moved on) is said above the forms.
        unplaced = refused[2] if refused and not any(f.update == refused[0] for f in forms) else None
        return page(
            "case.html",
            request,
            session,
            status_code,
            view=view,
            status=view.status,
            case_id=case_id,
            forms=forms,
            steps=views.progress(view.status, view.events),
            notice=notice,
            unplaced=unplaced,
            viewer=me,
        )

    @router.get("/cases/{case_id}")
    async def case_detail(request: Request, case_id: str, done: str = "") -> Response:
        session = await signed_in(request)
        return await case_page(request, session, case_id, notice=views.DONE.get(done))

    @router.post("/cases/{case_id}/steps/{update}")
    async def case_step(request: Request, case_id: str, update: str) -> Response:
        session = await signed_in(request)
        form = await form_of(request)
        if not keeper.check(keeper.csrf_for(session), form.get("csrf")):
            return refused_csrf(request, session)
        if update not in STEPS:
            return page(
                "message.html", request, session, 404, title="No such step", text=f"There is no step {update!r}."
            )
        if not can_act(session.role):
            return await case_page(
                request, session, case_id, 403, refused=(update, form, f"Role “{session.role}” may only read cases.")
            )
        fields = views.step_input(update, form, session.agent)
        if update == "assign" and (
            settings.agents.role_of(fields["assignee"]) is None
            or not can_act(settings.agents.role_of(fields["assignee"]) or "")
        ):
            return await case_page(
                request, session, case_id, 422, refused=(update, form, "Choose an agent who may work cases.")
            )
        try:
            inp = STEPS[update].input.model_validate({**fields, "actor": {"id": session.agent, "role": session.role}})
        except ValidationError as err:
            return await case_page(
                request, session, case_id, 422, refused=(update, form, describe_validation_error(err))
            )
        try:
            status = await run_step(await temporal(), case_id, STEPS[update].update, inp)
        except CaseError as err:
            return await case_page(
                request,
                session,
                case_id,
                CASE_ERROR_STATUS.get(err.code, 409),
                refused=(update, form, _sentence(err.message)),
            )
        # Read your own write: the page that follows shows the step (bounded wait for the projection).
        try:
            caught_up = await readmodel.wait_for_seq(await database(), status.workflow_id, status.last_event_seq)
        except UNREACHABLE:
            return unavailable_page(
                f"Your step ({update.replace('_', ' ')}) was recorded on the case. The case page cannot be "
                "shown while the case database is unreachable."
            )
        if not caught_up:
            log.warning("read model behind after a step", extra={"case_id": case_id, "seq": status.last_event_seq})
        return RedirectResponse(f"/cases/{case_id}?done={update}", status_code=303)

    # ---- live updates and reports

    @router.get("/live")
    async def live(request: Request, case: str = "") -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = await keeper.read(cookie, settings.agents)
        if session is None:
            return Response("sign in first", status_code=401)

        async def still_signed_in() -> bool:
            return await keeper.read(cookie, settings.agents) is not None

        return StreamingResponse(
            changes.stream(workflow_id_for(case) if case else None, still_signed_in),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/reports")
    async def reports(request: Request) -> Response:
        session = await signed_in(request)
        pool = await database()
        charts = await report_charts(pool, views.Clock(session.zone))
        compared = await proactive_report(pool)
        return page(
            "reports.html",
            request,
            session,
            charts=charts,
            origins=comparison_rows(compared),
            money=money_rows(compared),
            rules=compared.origins[0].rules,
        )

    @router.get("/reports/causes")
    async def reports_causes(request: Request, since: str = "", until: str = "", weeks: str = "") -> Response:
        session = await signed_in(request)
        form = {"since": since[:40], "until": until[:40], "weeks": weeks[:6]}
        try:
            window = cause_window(since, until, weeks)
        except ValueError as err:
            return page("reports_causes.html", request, session, 422, report=None, error=str(err), form=form)
        report = await causes_report(await database(), **window)
        form = {
            "since": report.since.date().isoformat(),
            "until": report.until.date().isoformat() if report.until.time() == time() else form["until"],
            "weeks": form["weeks"],
        }
        shown = {"since": _utc_text(report.since), "until": _utc_text(report.until)}
        return page(
            "reports_causes.html",
            request,
            session,
            report=report,
            charts=cause_charts(report),
            urlencode=urlencode,
            window=shown,
            form=form,
            error=None,
        )

    csat_page.add_routes(router, page=page, signed_in=signed_in, database=database)
    prevention.add_routes(
        router,
        settings=settings,
        temporal=temporal,
        page=page,
        signed_in=signed_in,
        form_of=form_of,
        csrf_ok=lambda session, form: keeper.check(keeper.csrf_for(session), form.get("csrf")),
        refused_csrf=refused_csrf,
        database=database,
    )
    return router


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no //host): an open redirect would help phishing."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _sentence(message: str) -> str:
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "."


def cause_window(since: str, until: str, weeks: str) -> dict[str, Any]:
    """The causes page's query (dates or moments, a number of weeks; empty for the default) as
    `causes_report` arguments, refused with a sentence when one is not a date or a number."""
    window: dict[str, Any] = dict(query_dates(since, until))
    if weeks.strip():
        if not weeks.strip().isdigit():
            raise ValueError(f"“{weeks[:6]}” is not a number of weeks.")
        window["weeks"] = int(weeks)
    causes_window(**window)  # the report's own checks (order, range, weeks), as a sentence here
    return window


def _utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d") if moment.time() == time() else moment.strftime("%Y-%m-%d %H:%M")
