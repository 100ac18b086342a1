"""1claw's bindings and execute calls through the oneclaw SDK: a human creates a binding whose
credential is a vault secret, the agent executes through it against a local upstream that
records what it receives, and never sees the credential."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ok

CREDENTIAL = "sk-compat-binding-7f3a91"


class _Recorder(BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        auth = self.headers.get("Authorization", "")
        type(self).seen.append({"path": self.path, "authorization": auth})
        body = json.dumps({"echo": auth}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()


def test_an_agent_executes_through_a_binding_without_seeing_the_credential(base_url, human, upstream):
    from oneclaw import create_client

    base, seen = upstream
    vault = ok(human.vaults.create("bindings-compat"))
    ok(human.secrets.set(vault["id"], "api/upstream", CREDENTIAL))
    created = ok(human.agents.create("binding-agent", token_ttl_seconds=3600))
    agent_id = created["agent"]["id"]
    ok(
        human.policies.create(
            vault["id"],
            principal_type="agent",
            principal_id=agent_id,
            secret_path_pattern="api/**",
            permissions=["use"],
        )
    )
    binding = ok(
        human.bindings.create(
            agent_id,
            name="upstream",
            binding_type="http",
            config={"base_url": base, "auth": {"type": "bearer"}},
            guardrails={"allowed_methods": ["GET"]},
            credential_source={"type": "vault_ref", "vault_id": vault["id"], "path": "api/upstream"},
        )
    )
    assert binding["credential_set"] is True
    assert binding["credential_source_type"] == "vault_ref"
    assert ok(human.bindings.test(agent_id, binding["id"]))["success"] is True

    agent = create_client(base_url=base_url, api_key=created["api_key"])
    listed = ok(agent.bindings.list(agent_id))
    assert [b["name"] for b in listed["bindings"]] == ["upstream"]
    result = ok(
        agent.bindings.execute(
            agent_id, binding="upstream", intent_type="http", params={"method": "GET", "path": "/echo"}
        )
    )
    assert result["status"] == "success"
    assert result["redactions_applied"] >= 1
    assert CREDENTIAL not in json.dumps(result)
    assert seen[-1]["authorization"] == f"Bearer {CREDENTIAL}"

    # A use-only secret is not readable by the agent.
    resp = agent.secrets.get(vault["id"], "api/upstream")
    assert resp.error is not None and resp.meta.status == 403

    executions = ok(agent.bindings.list_executions(agent_id, limit=10))
    assert executions["executions"][0]["status"] == "success"

    ok(human.bindings.rotate_credential(agent_id, binding["id"], credential={"token": "rotated-compat-88"}))
    ok(agent.bindings.execute(agent_id, binding="upstream", intent_type="http", params={"path": "/"}))
    assert seen[-1]["authorization"] == "Bearer rotated-compat-88"
    assert human.bindings.delete(agent_id, binding["id"]).error is None
    gone = agent.bindings.execute(agent_id, binding="upstream", intent_type="http", params={})
    assert gone.meta.status == 404
