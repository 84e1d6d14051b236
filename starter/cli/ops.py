"""Ops commands: check a roster file, migrate or rebuild the database, the SLA and causes reports
(policy commands: `starter.cli.policy`)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from activities.roster import Roster, load_roster
from starter.cli.common import UsageError


def roster_summary(roster: Roster, source: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    lines = [f"roster {source}: ok ({len(roster.people)} people, {len(roster.roles)} roles)"]
    for name, role in roster.roles.items():
        order = roster.order(name, now)
        rotation = (
            (
                f" — weekly rotation, hand-over {role.rotation.handover} {role.rotation.time_zone}, "
                f"on call now: {order[0]}"
            )
            if role.rotation
            else ""
        )
        lines.append(f"  {name}: {', '.join(order)}{rotation}")
    for person_id, person in roster.people.items():
        channels = [c for c in ("email", "slack", "webhook") if getattr(person, c)]
        quiet = ""
        if person.quiet_hours:
            start, end = person.quiet_hours
            quiet = f", quiet {start:%H:%M}-{end:%H:%M} {person.time_zone}"
        lines.append(f"  {person_id}{f' ({person.name})' if person.name else ''}: {', '.join(channels)}{quiet}")
    return "\n".join(lines)


def cmd_roster_check(args: argparse.Namespace) -> int:
    roster = load_roster(args.file)
    assert roster is not None
    print(roster_summary(roster, args.file))
    return 0


async def cmd_db(args: argparse.Namespace) -> int:
    from activities.store import create_pool, migrate, pending_migrations
    from activities.store.projection import rebuild

    pool = await create_pool()
    try:
        if args.db_command == "migrate":
            applied = await migrate(pool)
            print(f"applied {', '.join(applied)}" if applied else "database is up to date")
        elif args.db_command == "status":
            pending = await pending_migrations(pool)
            print(f"pending migrations: {', '.join(pending)}" if pending else "database is up to date")
            return 1 if pending else 0
        else:
            pending = await pending_migrations(pool)
            if pending:
                raise UsageError("the database is not migrated; run `recovery db migrate` first")
            started = time.monotonic()
            count = await rebuild(pool)
            print(f"rebuilt the read model of {count} cases from the event store in {time.monotonic() - started:.1f}s")
    finally:
        await pool.close()
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    """`recovery report [sla]` (cases opened in the window), `recovery report causes` (closed in it) or
    `recovery report proactive` (proactive against reactive cases opened in the window)."""
    from activities.store import create_pool, require_migrated
    from recovery.causes import causes_report
    from recovery.proactive_report import format_proactive, proactive_report
    from recovery.report_text import format_causes, format_report
    from recovery.reports import sla_report

    causes = args.kind == "causes"
    if args.kind != "sla" and args.top is not None:
        also = "; the causes report lists every root cause" if causes else ""
        raise UsageError(f"--top is for the SLA report{also}")
    if not causes and args.weeks is not None:
        raise UsageError("--weeks is for `recovery report causes`")
    pool = await create_pool()
    try:
        await require_migrated(pool)
        try:
            if args.kind == "proactive":
                compared = await proactive_report(pool, since=args.since, until=args.until)
                json_text, text = compared.model_dump_json(indent=2), format_proactive(compared)
            elif causes:
                found = await causes_report(pool, since=args.since, until=args.until, weeks=args.weeks)
                json_text, text = found.model_dump_json(indent=2), format_causes(found)
            else:
                top = 5 if args.top is None else args.top
                report = await sla_report(pool, since=args.since, until=args.until, top=top)
                json_text, text = report.model_dump_json(indent=2), format_report(report)
        except ValueError as err:
            raise UsageError(str(err)) from None
    finally:
        await pool.close()
    print(json_text if args.json else text)
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2026-11-01)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def cmd_erase_customer(args: argparse.Namespace) -> int:
    """GDPR erasure of a customer: their open cases erase their state and continue as new (the
    `erase` update), then the event store's texts go (activities/store/privacy.py); the closed runs'
    histories are listed, or deleted with --delete-histories. --event-store-only: the store alone."""
    from pydantic import TypeAdapter, ValidationError

    from activities.store import create_pool, require_migrated
    from activities.store.privacy import erase_customer
    from starter.cli.common import _client
    from workflows.models import Identifier

    try:
        TypeAdapter(Identifier).validate_python(args.customer)
    except ValidationError:
        raise UsageError(f"{args.customer!r} is not a customer id") from None
    if not args.by:
        raise UsageError("--by is required: who asked for the erasure (kept in the erasure log)")
    if args.event_store_only and args.delete_histories:
        raise UsageError("--delete-histories needs Temporal; leave out --event-store-only")
    pool = await create_pool()
    try:
        await require_migrated(pool)
        if args.event_store_only:
            erased = await erase_customer(pool, args.customer, erased_by=args.by)
        else:
            from starter import erasure

            client = await _client(args)
            # The open cases first: each answers once its erased events are stored, so the store's
            # erasure below comes after every batch that still carried the texts.
            open_cases, left = await erasure.erase_open_cases(client, args.customer, args.by)
            erased = await erase_customer(pool, args.customer, erased_by=args.by, erased_live=open_cases)
    finally:
        await pool.close()
    print(
        f"erased the texts of {erased.events} events in {erased.cases} cases of customer {args.customer} "
        f"from the event store (logged by hash)."
    )
    if args.event_store_only:
        print(
            "Temporal not asked (--event-store-only): open cases still hold the texts, and the histories "
            f"too; delete closed cases with `temporal workflow delete --query \"CustomerId = '{args.customer}'\"`."
        )
        return 0
    print(f"erased the open cases: {', '.join(open_cases) if open_cases else 'none'}")
    closed = await erasure.closed_runs(client, args.customer, left)
    if args.delete_histories:
        await erasure.delete_runs(client, closed)
        print(f"deleted the histories of {len(closed)} closed runs:")
    else:
        print(f"closed runs whose histories still hold the texts ({len(closed)}; --delete-histories deletes them):")
    for run in closed:
        print(f"  {run.workflow_id} {run.run_id} {run.status.lower()}")
    return 0
