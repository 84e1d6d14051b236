"""The OIDC configuration (RECOVERY_OIDC_*), the claim → role mapping, and how sessions signed in
through the provider are checked afterwards (no servers)."""

from __future__ import annotations

import pytest

from console.oidc import OidcClient, OidcConfig, OidcConfigError, OidcRefused, parse_roles
from console.session import SessionKeeper
from starter.agents import load_agents
from tests.console.conftest import ROOT

ENV = {
    "RECOVERY_OIDC_ISSUER": "https://id.example.com/realms/support/",
    "RECOVERY_OIDC_CLIENT_ID": "console",
    "RECOVERY_OIDC_CLIENT_SECRET": "s3cret",
    "RECOVERY_OIDC_ROLES": "groups:support-leads=team-lead, groups:support=agent",
}


def test_unset_issuer_means_tokens_only() -> None:
    assert OidcConfig.from_env({}) is None


def test_config_from_env() -> None:
    config = OidcConfig.from_env(ENV)
    assert config is not None
    assert config.issuer == "https://id.example.com/realms/support"  # no trailing slash: `iss` compares exactly
    assert config.agent_claim == "preferred_username" and config.label == "id.example.com"
    assert [(r.claim, r.value, r.role) for r in config.roles] == [
        ("groups", "support-leads", "team-lead"),
        ("groups", "support", "agent"),
    ]
    assert config.fingerprint.startswith("oidc:")
    assert OidcConfig.from_env({**ENV, "RECOVERY_OIDC_ISSUER": "https://other.example.com"}).fingerprint != (
        config.fingerprint
    )


@pytest.mark.parametrize("missing", ["RECOVERY_OIDC_CLIENT_ID", "RECOVERY_OIDC_CLIENT_SECRET", "RECOVERY_OIDC_ROLES"])
def test_incomplete_config_is_refused(missing: str) -> None:
    with pytest.raises(OidcConfigError):
        OidcConfig.from_env({k: v for k, v in ENV.items() if k != missing})


@pytest.mark.parametrize("text", ["groups=agent", "groups:support", ":support=agent", "groups:=agent", "groups:x="])
def test_malformed_mapping_is_refused(text: str) -> None:
    with pytest.raises(OidcConfigError, match="claim:value=role"):
        parse_roles(text)


def test_first_matching_rule_wins_and_urls_name_claims() -> None:
    config = OidcConfig.from_env(
        {**ENV, "RECOVERY_OIDC_ROLES": "groups:support-leads=team-lead,https://example.com/roles:support=agent"}
    )
    assert config is not None
    assert config.role_for({"groups": ["support", "support-leads"]}) == "team-lead"
    assert config.role_for({"https://example.com/roles": ["support"]}) == "agent"
    assert config.role_for({"https://example.com/roles": "support"}) == "agent"  # one value, not a list
    assert config.role_for({"groups": ["support-leads-emea"], "roles": ["support"]}) is None


def test_mapping_to_a_role_the_console_does_not_know_is_refused() -> None:
    config = OidcConfig.from_env({**ENV, "RECOVERY_OIDC_ROLES": "groups:ops=intake"})
    assert config is not None
    with pytest.raises(OidcConfigError, match="intake"):
        config.check_roles({"agent", "team-lead", "viewer"})


async def test_oidc_sessions_end_when_the_provider_changes_or_the_id_is_in_the_agents_file() -> None:
    agents = load_agents(str(ROOT / "starter" / "dev_agents.toml"))
    config = OidcConfig.from_env(ENV)
    assert config is not None
    keeper = SessionKeeper()
    keeper.oidc_fp = config.fingerprint
    _, cookie = await keeper.issue("rita.lead", "team-lead", "UTC", config.fingerprint)
    assert (await keeper.read(cookie, agents)) is not None  # not in the agents file: the provider vouched
    keeper.oidc_fp = OidcConfig.from_env({**ENV, "RECOVERY_OIDC_CLIENT_ID": "other"}).fingerprint  # type: ignore[union-attr]
    assert (await keeper.read(cookie, agents)) is None
    keeper.oidc_fp = config.fingerprint
    assert (await keeper.read(cookie, agents)) is None  # ended, not only refused while it differed

    _, alice = await keeper.issue("alice", "team-lead", "UTC", config.fingerprint)  # alice holds a token too
    assert (await keeper.read(alice, agents)) is None
    keeper.oidc_fp = None  # OIDC switched off: its sessions end
    _, later = await keeper.issue("rita.lead", "team-lead", "UTC", config.fingerprint)
    assert (await keeper.read(later, agents)) is None


async def test_a_token_session_cannot_pass_for_an_oidc_one() -> None:
    """Token sessions still answer to the agents file (an unknown agent is refused)."""
    agents = load_agents(str(ROOT / "starter" / "dev_agents.toml"))
    keeper = SessionKeeper()
    _, cookie = await keeper.issue("rita.lead", "team-lead", "UTC", "not-an-oidc-fingerprint")
    assert (await keeper.read(cookie, agents)) is None


def test_the_customers_actor_id_cannot_sign_in() -> None:
    """The case page's actor: a provider account named `customer` would pass for the customer."""
    config = OidcConfig.from_env(ENV)
    assert config is not None
    client = OidcClient(config)
    with pytest.raises(OidcRefused) as refused:
        client.agent_of({"preferred_username": "customer"})
    assert refused.value.status == 403 and "kept for customers" in refused.value.text
    assert client.agent_of({"preferred_username": "customer.care"}) == "customer.care"


def test_the_recheck_interval_comes_from_the_environment() -> None:
    assert OidcConfig.from_env(ENV).recheck_seconds == 300  # type: ignore[union-attr]
    assert OidcConfig.from_env({**ENV, "RECOVERY_OIDC_RECHECK_SECONDS": "0"}).recheck_seconds == 0  # type: ignore[union-attr]
    for bad in ("soon", "-1", "90000"):
        with pytest.raises(OidcConfigError, match="RECOVERY_OIDC_RECHECK_SECONDS"):
            OidcConfig.from_env({**ENV, "RECOVERY_OIDC_RECHECK_SECONDS": bad})
