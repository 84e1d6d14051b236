"""Ops commands: migrate or rebuild the database, the SLA report (policy commands: `starter.cli.policy`)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from starter.cli.common import UsageError


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
    from activities.store import create_pool, require_migrated
    from recovery.reports import format_report, sla_report

    pool = await create_pool()
    try:
        await require_migrated(pool)
        try:
            report = await sla_report(pool, since=args.since, until=args.until, top=args.top)
        except ValueError as err:
            raise UsageError(str(err)) from None
    finally:
        await pool.close()
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2026-11-01)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
