"""Fixtures for running 1claw's own Python SDK (oneclaw, from PyPI) against a Talon server.

The server URL comes from TALON_URL; `scripts/talon-dev test` starts one on SQLite and one on
PostgreSQL and runs this suite against each.
"""

import os
import uuid

import pytest
from oneclaw import create_client

PASSWORD = "Correct-Horse-9!"


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("TALON_URL")
    if not url:
        pytest.fail("TALON_URL is not set: run ./scripts/talon-dev test")
    return url.rstrip("/")


def ok(resp):
    """The response data, failing the test with the SDK's error when there is one."""
    assert resp.error is None, f"HTTP {resp.meta.status}: {resp.error}"
    return resp.data


@pytest.fixture
def human(base_url):
    """A signed-up human, logged in through the SDK."""
    email = f"sdk-{uuid.uuid4().hex[:12]}@example.com"
    client = create_client(base_url=base_url)
    ok(client.auth.signup(email, PASSWORD, display_name="SDK user"))
    ok(client.auth.login(email, PASSWORD))
    client.email = email
    return client


@pytest.fixture
def granted(base_url, human):
    """A vault with two secrets and an agent granted read on `api-keys/**` only."""
    vault = ok(human.vaults.create("production", description="SDK compatibility"))
    ok(human.secrets.set(vault["id"], "api-keys/openai", "sk-compat-openai-123"))
    ok(human.secrets.set(vault["id"], "db/password", "compat-db-password-456", type="password"))
    created = ok(human.agents.create("compat-agent", token_ttl_seconds=3600))
    agent_id = created["agent"]["id"]
    ok(
        human.policies.create(
            vault["id"],
            principal_type="agent",
            principal_id=agent_id,
            secret_path_pattern="api-keys/**",
        )
    )
    agent = create_client(base_url=base_url, api_key=created["api_key"])
    return {"vault": vault, "agent_id": agent_id, "key": created["api_key"], "agent": agent}
