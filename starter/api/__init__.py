"""The HTTP API (`recovery api`): ticket intake, signed Zendesk and Jira webhooks, and agents' steps.

FastAPI, because it gives request validation from the same pydantic models the workflow uses and
publishes the OpenAPI schema at /openapi.json. Every error is JSON `{error, detail}`; client input
never produces a 500.

Layout: `app` assembles the routers (`intake`, `complaints`, `steps`, `reports`, `health`), one
module per area; `errors` holds the error model and handlers, `limits` the body-size middleware,
`ratelimit` the rate limits, `auth` the bearer-token dependencies, `settings` what the app is
configured with. A new area is a new router module and one `include_router` line in `app.create_app`.
"""

from starter.api.app import create_app
from starter.api.errors import ERRORS, ApiError, ErrorBody
from starter.api.settings import ApiSettings, settings_from_env

__all__ = ["ERRORS", "ApiError", "ApiSettings", "ErrorBody", "create_app", "settings_from_env"]
