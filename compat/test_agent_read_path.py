"""The agent read path through the unmodified oneclaw SDK."""

from conftest import ok


def test_human_signup_login_and_vault_listing(human):
    me = ok(human.auth.me())
    assert me["email"] == human.email
    assert me["role"] == "owner"
    vault = ok(human.vaults.create("first"))
    assert vault["name"] == "first" and vault["cmek_enabled"] is False
    listed = ok(human.vaults.list())
    assert [v["id"] for v in listed["vaults"]] == [vault["id"]]
    assert ok(human.vaults.get(vault["id"]))["id"] == vault["id"]


def test_human_creates_a_vault_and_a_secret(human):
    vault = ok(human.vaults.create("payments", description="created by the SDK"))
    assert vault["description"] == "created by the SDK"
    created = ok(human.secrets.set(vault["id"], "api-keys/stripe", "sk-live-compat-789"))
    assert (created["path"], created["version"], created["type"]) == ("api-keys/stripe", 1, "generic")
    assert "value" not in created
    assert ok(human.secrets.get(vault["id"], "api-keys/stripe"))["value"] == "sk-live-compat-789"


def test_registered_agent_gets_an_ocv_key_shown_once(human):
    created = ok(human.agents.create("key-agent", description="compat"))
    key = created["api_key"]
    assert key.startswith("ocv_") and len(key) > 40
    # AgentResponse only (1claw's Go SDK refuses unknown fields): no key prefix in the body.
    assert "api_key_prefix" not in created["agent"]
    fetched = ok(human.agents.get(created["agent"]["id"]))
    assert fetched["is_active"] is True
    assert key not in str(fetched) and key not in str(ok(human.agents.list()))


def test_agent_key_alone_reads_a_granted_secret(granted):
    secret = ok(granted["agent"].secrets.get(granted["vault"]["id"], "api-keys/openai"))
    assert secret["value"] == "sk-compat-openai-123"
    assert secret["type"] == "generic"
    assert secret["version"] == 1
    me = ok(granted["agent"].agents.me())
    assert me["id"] == granted["agent_id"]


def test_agent_is_denied_outside_its_glob_and_for_writes(granted):
    vault_id = granted["vault"]["id"]
    denied = granted["agent"].secrets.get(vault_id, "db/password")
    assert denied.meta.status == 403
    assert denied.error.type == "auth_error" and denied.data is None
    write = granted["agent"].secrets.set(vault_id, "api-keys/openai", "overwritten")
    assert write.meta.status == 403 and write.error.type == "auth_error"
    still = ok(granted["agent"].secrets.get(vault_id, "api-keys/openai"))
    assert still["value"] == "sk-compat-openai-123"


def test_agent_lists_metadata_only_for_what_it_may_read(granted):
    listed = ok(granted["agent"].secrets.list(granted["vault"]["id"]))
    assert [s["path"] for s in listed["secrets"]] == ["api-keys/openai"]
    assert "value" not in listed["secrets"][0]


def test_versions_grow_with_each_write(human, granted):
    vault_id = granted["vault"]["id"]
    created = ok(human.secrets.set(vault_id, "api-keys/openai", "sk-compat-rotated"))
    assert created["version"] == 2 and "value" not in created
    secret = ok(granted["agent"].secrets.get(vault_id, "api-keys/openai"))
    assert (secret["value"], secret["version"]) == ("sk-compat-rotated", 2)


def test_audit_has_reads_and_denials_but_no_values(human, granted):
    vault_id = granted["vault"]["id"]
    ok(granted["agent"].secrets.get(vault_id, "api-keys/openai"))
    granted["agent"].secrets.get(vault_id, "db/password")
    events = ok(human.audit.list(limit=200))
    actions = [e["action"] for e in events["events"]]
    assert "secret.read" in actions and "secret.denied" in actions and "secret.write" in actions
    by_agent = {
        e["action"]: e for e in events["events"] if e["actor_id"] == granted["agent_id"]
    }
    assert by_agent["secret.read"]["outcome"] == "success"
    assert by_agent["secret.denied"]["outcome"] == "denied"
    assert by_agent["secret.denied"]["actor_type"] == "agent"
    assert events["total"] >= len(events["events"])
    text = str(events)
    assert "sk-compat-openai-123" not in text and "compat-db-password-456" not in text


def test_wrong_agent_key_fails_the_exchange(base_url, granted):
    from oneclaw import create_client
    from oneclaw.errors import OneclawError

    bad = create_client(base_url=base_url, api_key=granted["key"][:-2] + "xx")
    try:
        resp = bad.secrets.get(granted["vault"]["id"], "api-keys/openai")
    except OneclawError as e:
        assert "401" in str(e)
    else:
        assert resp.meta.status == 401


def test_deleted_secret_is_gone(human, granted):
    vault_id = granted["vault"]["id"]
    assert human.secrets.delete(vault_id, "api-keys/openai").meta.status == 204
    gone = human.secrets.get(vault_id, "api-keys/openai")
    assert gone.meta.status == 410
