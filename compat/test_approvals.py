"""1claw's approvals, pending approvals and honeytokens through the oneclaw SDK: a gated read
answers the SDK's `approval_required` error naming the approval, a person decides through the
SDK, and the same read then succeeds; an agent's declared action, the M-of-N submit / approve /
execute flow, and honeytokens as the SDK's risk resource sends them."""

from conftest import ok
from oneclaw import create_client

VALUE = "compat-gated-db-password-5c1e"


def _agent(base_url, human, vault_id, pattern, permissions, conditions=None):
    created = ok(human.agents.create("approval-agent", token_ttl_seconds=3600))
    agent_id = created["agent"]["id"]
    policy = ok(
        human.policies.create(
            vault_id,
            principal_type="agent",
            principal_id=agent_id,
            secret_path_pattern=pattern,
            permissions=permissions,
            conditions=conditions,
        )
    )
    return agent_id, policy, create_client(base_url=base_url, api_key=created["api_key"])


def test_a_gated_read_raises_approval_required_until_a_person_approves(base_url, human):
    vault = ok(human.vaults.create("approvals-compat"))
    ok(human.secrets.set(vault["id"], "prod/db", VALUE))
    _, _, agent = _agent(
        base_url, human, vault["id"], "prod/**", ["read"], {"require_approval": {"risk_tier": 1}}
    )

    denied = agent.secrets.get(vault["id"], "prod/db")
    assert denied.meta.status == 403
    assert denied.error.type == "approval_required", denied.error

    pending = ok(human.approvals.list(status="pending"))
    assert len(pending["approvals"]) == 1
    approval_id = pending["approvals"][0]["id"]
    assert approval_id in denied.error.message
    one = ok(human.approvals.get(approval_id))
    assert one["status"] == "pending" and one["action"] == "secret.read"
    assert ok(human.approvals.decide(approval_id, "approve"))["status"] == "approved"

    assert ok(agent.secrets.get(vault["id"], "prod/db"))["value"] == VALUE
    again = agent.secrets.get(vault["id"], "prod/db")
    assert again.error.type == "approval_required", "a single-use grant is spent"


def test_an_agent_requests_and_cancels_a_declared_action(base_url, human):
    vault = ok(human.vaults.create("declared-compat"))
    _, _, agent = _agent(base_url, human, vault["id"], "misc/**", ["read"])
    asked = ok(
        agent.approvals.request(
            action="policy_change",
            target_type="vault",
            target_id=vault["id"],
            summary="grant write on prod/**",
            reason="deploy",
            risk_tier=1,
        )
    )
    assert asked["status"] == "pending"
    assert asked["summary"] == {"text": "grant write on prod/**"}
    cancelled = ok(agent.approvals.cancel(asked["id"], reason="not needed"))
    assert cancelled["status"] == "rejected" and cancelled["decision_reason"] == "cancelled"
    # The first answer wins: a later decision conflicts, a later cancel answers it unchanged.
    assert human.approvals.decide(asked["id"], "approve").error is not None
    assert ok(agent.approvals.cancel(asked["id"]))["decision_reason"] == "cancelled"


def test_pending_approvals_submit_approve_and_execute_once(base_url, human):
    vault = ok(human.vaults.create("pending-compat"))
    _, policy, agent = _agent(
        base_url, human, vault["id"], "ops/**", ["write"], {"require_approval": {"risk_tier": 1}}
    )
    sub = ok(
        agent.pending_approvals.submit(
            policy_id=policy["id"], action="rotate", action_payload={"database": "billing"}
        )
    )
    pid = sub["pending_approval_id"]
    assert sub["status"] == "pending" and sub["required_approvals"] == 1
    got = ok(human.pending_approvals.get(pid))
    assert got["action_payload"] == {"database": "billing"}
    signed = ok(
        human.pending_approvals.approve(pid, decision="approve", payload_hash=got["payload_hash"])
    )
    assert signed["status"] == "approved" and len(signed["signatures"]) == 1
    assert ok(agent.pending_approvals.execute(pid))["status"] == "executed"
    assert agent.pending_approvals.execute(pid).error is not None
    listed = ok(human.pending_approvals.list())
    assert any(p["id"] == pid and p["status"] == "executed" for p in listed["pending_approvals"])


def test_honeytokens_through_the_risk_resource(base_url, human):
    vault = ok(human.vaults.create("honey-compat"))
    ok(human.secrets.set(vault["id"], "legacy/aws-root", "AKIA-compat-canary"))
    made = ok(human.risk.create_honeytoken(vault["id"], "legacy/aws-root"))
    token = made["honeytoken"]
    assert token["secret_path"] == "legacy/aws-root" and token["triggered_count"] == 0
    _, _, agent = _agent(base_url, human, vault["id"], "legacy/**", ["read"])
    assert ok(agent.secrets.get(vault["id"], "legacy/aws-root"))["value"] == "AKIA-compat-canary"
    listed = ok(human.risk.list_honeytokens())["honeytokens"]
    assert [h["triggered_count"] for h in listed if h["id"] == token["id"]] == [1]
    assert ok(human.risk.delete_honeytoken(token["id"]))["deleted"] is True
