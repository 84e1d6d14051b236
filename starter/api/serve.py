"""The app each process of `recovery api --workers N` builds for itself (a uvicorn factory).

uvicorn's multi-process mode imports the app by name in every worker process (spawned, not
forked), so the parent cannot hand over an app object: `recovery api` exports its flags to the
environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, RECOVERY_TASK_QUEUE, DATABASE_URL and a shared
RECOVERY_CONSOLE_SECRET) and each worker calls `app_from_env`. Every worker is a replica of its own:
its own PostgreSQL pool, LISTEN connection and rate-limit counters (docs/ops.md, "Running several
API processes")."""

from __future__ import annotations

import os

from fastapi import FastAPI

FACTORY = "starter.api.serve:app_from_env"


def app_from_env() -> FastAPI:
    from recovery.client import connect
    from recovery.logs import configure_logging
    from starter.api.app import create_app
    from starter.api.settings import settings_from_env

    settings = settings_from_env()
    configure_logging(os.environ.get("RECOVERY_LOG_LEVEL", "INFO"))
    return create_app(settings, connect=connect)  # address and namespace from the environment (envconfig)
