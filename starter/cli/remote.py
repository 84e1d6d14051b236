"""The CLI as a client of the HTTP API (the default, issue 15.1): the API authenticates the caller
by bearer token and decides who acts, so four-eyes and compensation authority hold for the CLI too.

Where the API and the token come from, first found wins (like `gh` and `kubectl`):

* `--api URL`, else `RECOVERY_API_URL`, else `api_url` in the config file, else http://127.0.0.1:8080;
* `RECOVERY_TOKEN`, else `token` in the config file.

The config file is `$RECOVERY_CONFIG`, else `$XDG_CONFIG_HOME/recovery/config.toml` (default
`~/.config/recovery/config.toml`); keep it private (`chmod 600`), it holds your token:

    api_url = "https://recovery.example.com"
    token = "…"

`--operator` bypasses all of this and talks to Temporal directly, trusting `--agent/--role`: for
operators only, who can do anything through Temporal anyway (docs/engineers.md, trust boundary).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from recovery.config import parse_toml_config, read_config_file
from starter.cases import CaseError
from starter.cli.common import UsageError

DEFAULT_API = "http://127.0.0.1:8080"
TIMEOUT = httpx.Timeout(10.0, read=330.0)  # a step may wait minutes for its activities (the API waits 5 min)


class ConfigError(UsageError, ValueError):
    pass


class CliConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_url: str | None = None
    token: str | None = None


def config_path() -> Path:
    explicit = os.environ.get("RECOVERY_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "recovery" / "config.toml"


def load_config() -> CliConfig:
    path = config_path()
    if not path.exists():
        if os.environ.get("RECOVERY_CONFIG"):
            raise ConfigError(f"{path}: no such config file (RECOVERY_CONFIG)")
        return CliConfig()
    return parse_toml_config(read_config_file(path, "recovery config", ConfigError), str(path), CliConfig, ConfigError)


class Api:
    """One API endpoint with the caller's token; every answer is a model or a one-line error."""

    def __init__(self, args: argparse.Namespace):
        config = load_config()
        self.url = (
            getattr(args, "api", None) or os.environ.get("RECOVERY_API_URL") or config.api_url or DEFAULT_API
        ).rstrip("/")
        token = os.environ.get("RECOVERY_TOKEN") or config.token
        if not token:
            raise UsageError(
                f"no API token: set RECOVERY_TOKEN or `token` in {config_path()} "
                "(operators: --operator talks to Temporal directly)"
            )
        self.headers = {"Authorization": f"Bearer {token.strip()}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=TIMEOUT) as http:
                response = await http.request(method, path, json=body, headers=self.headers)
        except httpx.HTTPError as err:
            raise ConnectionError(f"cannot reach the API at {self.url}: {err}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code < 400:
            return data
        error = data.get("error", "error") if isinstance(data, dict) else "error"
        detail = data.get("detail", response.text[:200]) if isinstance(data, dict) else response.text[:200]
        if response.status_code in (400, 413) or error == "validation":
            raise UsageError(f"the API refused the input: {detail}")
        raise CaseError(str(error), str(detail))


def case_path(case: str, *rest: str) -> str:
    return "/".join([f"/v1/complaints/{quote(case, safe=':@~')}", *rest])


def without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
