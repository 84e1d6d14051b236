"""/docs and /redoc load every asset from this process: nothing from a CDN (air-gapped installs)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from temporalio.client import Client

from starter.agents import load_agents
from starter.api import ApiSettings, create_app
from starter.intake import IntakeConfig
from tests.helpers import fast_policy

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(
        agents=load_agents(str(ROOT / "starter" / "dev_agents.toml")), intake=IntakeConfig(), policy=fast_policy()
    )

    async def connect() -> Client:
        raise RuntimeError("no Temporal needed for docs")

    app = create_app(settings, connect)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_every_asset_of_the_docs_is_served_locally(http: httpx.AsyncClient, page: str) -> None:
    response = await http.get(page)
    assert response.status_code == 200
    html = response.text
    references = [a or b for a, b in REFERENCE.findall(html)]
    assert references, html
    for ref in references:
        assert not re.match(r"^(https?:)?//", ref), f"{page} references {ref} from another host"
        asset = await http.get(urljoin(f"http://api{page}", ref))
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
    scripts = [r for r in references if r.endswith(".js")]
    assert scripts, "the page loads its script from this process"
    # The bundle itself fetches nothing from a CDN either.
    for script in scripts:
        body = (await http.get(urljoin(f"http://api{page}", script))).text
        assert "cdn.jsdelivr.net" not in body and "unpkg.com" not in body
    assert "/openapi.json" in html
    assert (await http.get("/openapi.json")).json()["openapi"].startswith("3.")
