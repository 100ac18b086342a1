"""The MCP Python SDK (`mcp`, from PyPI) as a client of Talon's MCP server: `talon mcp` over
stdio and the server's own `/mcp` over streamable HTTP, each with 1claw's tool names."""

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import ok
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
import httpx
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parent.parent


def talon_binary():
    """`TALON_BIN`, else the release build, else the debug build, else `talon` on PATH."""
    for candidate in (
        os.environ.get("TALON_BIN"),
        REPO / "target/release/talon",
        REPO / "target/debug/talon",
        shutil.which("talon"),
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("no talon binary: build it or set TALON_BIN")


async def conversation(session):
    await session.initialize()
    names = {t.name for t in (await session.list_tools()).tools}
    assert {"get_secret", "list_secrets", "describe_secret", "resolve_env"} <= names, names
    listed = await session.call_tool("list_secrets", {})
    assert not listed.isError
    assert "api-keys/openai" in listed.content[0].text
    got = await session.call_tool("get_secret", {"path": "api-keys/openai"})
    assert not got.isError, got.content[0].text
    body = json.loads(got.content[0].text)
    assert (body["path"], body["value"]) == ("api-keys/openai", "sk-compat-openai-123")
    denied = await session.call_tool("get_secret", {"path": "db/password"})
    assert denied.isError
    assert "compat-db-password-456" not in denied.content[0].text


def test_talon_mcp_over_stdio_serves_the_sdk_client(base_url, granted):
    params = StdioServerParameters(
        command=talon_binary(),
        args=["mcp"],
        env={
            "PATH": os.environ.get("PATH", ""),
            "ONECLAW_BASE_URL": base_url,
            "ONECLAW_AGENT_ID": granted["agent_id"],
            "ONECLAW_AGENT_API_KEY": granted["key"],
            "ONECLAW_VAULT_ID": granted["vault"]["id"],
        },
    )

    async def run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await conversation(session)

    asyncio.run(run())


def test_the_servers_mcp_endpoint_serves_the_sdk_client_over_http(base_url, granted):
    token = ok(granted["agent"].auth.agent_token(granted["key"], agent_id=granted["agent_id"]))
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "X-Vault-ID": granted["vault"]["id"],
    }

    async def run():
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(f"{base_url}/mcp", http_client=http) as (
                read,
                write,
                _,
            ):
                async with ClientSession(read, write) as session:
                    await conversation(session)

    asyncio.run(run())
