"""Long-running commands: the worker, the HTTP API, the codec server, the local stack and the demo."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from starter.cli.common import UsageError


def cmd_worker(args: argparse.Namespace) -> int:
    import worker

    os.environ["RECOVERY_TASK_QUEUE"] = args.task_queue
    if args.address:
        os.environ["TEMPORAL_ADDRESS"] = args.address
    if args.namespace:
        os.environ["TEMPORAL_NAMESPACE"] = args.namespace
    processes = getattr(args, "processes", 1)
    if processes < 1:
        raise UsageError("--processes must be at least 1")
    if processes == 1:
        return worker.main()
    return _supervised_workers(processes)


def _supervised_workers(processes: int) -> int:
    """`processes` worker processes on the task queue; without DATABASE_URL the supervisor starts the
    embedded PostgreSQL once and hands its URL to all of them (instead of N processes racing to start it)."""
    from activities.store import database_url, stop_embedded
    from recovery.supervisor import supervise

    try:
        os.environ["DATABASE_URL"] = database_url()
        return supervise([sys.executable, "-m", "worker"], processes)
    finally:
        stop_embedded()


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from recovery.client import connect
    from recovery.logs import configure_logging
    from starter.agents import AgentsError
    from starter.api import create_app, settings_from_env
    from starter.api.shutdown import ApiServer
    from starter.dev import API_GRACE_SECONDS
    from starter.intake import IntakeConfigError

    if args.address:
        os.environ["TEMPORAL_ADDRESS"] = args.address
    os.environ["RECOVERY_TASK_QUEUE"] = args.task_queue
    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    try:
        settings = settings_from_env()  # also checks the files once, before any worker process starts
    except (AgentsError, IntakeConfigError) as err:
        raise UsageError(str(err)) from None
    if not len(settings.agents):
        print(
            "recovery: warning: no agents configured (RECOVERY_AGENTS); only signed webhooks will work", file=sys.stderr
        )
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "INFO"))
    if workers > 1:
        return _api_workers(args, workers, API_GRACE_SECONDS)
    app = create_app(settings, connect=lambda: connect(args.address, args.namespace))
    # In-flight requests get API_GRACE_SECONDS after SIGTERM, then a JSON 503 (starter/api/shutdown.py).
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=API_GRACE_SECONDS
    )
    ApiServer(config).run()
    return 0


def _api_workers(args: argparse.Namespace, workers: int, grace: int) -> int:
    """uvicorn's multi-process mode: one socket, `workers` processes each building the app from the
    environment (starter/api/serve.py). They must share what a replica must share, so the embedded
    PostgreSQL (without DATABASE_URL) is started here once and a console secret is drawn here when
    none is set: otherwise each process would sign cookies only it accepts."""
    import secrets

    import uvicorn

    from activities.store import database_url, stop_embedded
    from starter.api.serve import FACTORY

    if args.namespace:
        os.environ["TEMPORAL_NAMESPACE"] = args.namespace
    os.environ.setdefault("RECOVERY_CONSOLE_SECRET", secrets.token_urlsafe(32))
    try:
        os.environ["DATABASE_URL"] = database_url()
        uvicorn.run(
            FACTORY,
            factory=True,
            workers=workers,
            host=args.host,
            port=args.port,
            log_level="warning",
            timeout_graceful_shutdown=grace,
        )
    finally:
        stop_embedded()
    return 0


def cmd_codec_server(args: argparse.Namespace) -> int:
    from recovery.codec import CodecConfigError
    from starter.codec_server import serve

    try:
        serve(host=args.host, port=args.port, cors_origin=args.cors_origin)
    except CodecConfigError as err:
        raise UsageError(str(err)) from None
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from starter.demo import run_demo

    return run_demo(
        api_url=args.api, ui_url=args.ui, temporal_address=args.address or "127.0.0.1:7233", token_file=args.token_file
    )


def cmd_dev(args: argparse.Namespace) -> int:
    from starter.dev import run_dev

    return run_dev(
        home=Path(args.home),
        port=args.port,
        ui_port=args.ui_port,
        api_port=args.api_port,
        task_queue=args.task_queue,
        metrics_port=args.metrics_port,
        demo_policy=args.demo_policy,
        codec_port=args.codec_port,
    )
