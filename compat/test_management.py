"""Management calls of the SDK: agents, policies, personal API keys, org."""

from oneclaw import create_client

from conftest import PASSWORD, ok


def test_agent_lifecycle(human, granted):
    agent_id = granted["agent_id"]
    listed = ok(human.agents.list())
    assert [a["id"] for a in listed["agents"]] == [agent_id]
    assert ok(human.agents.get(agent_id))["name"] == "compat-agent"
    updated = ok(human.agents.update(agent_id, description="updated by the SDK"))
    assert updated["description"] == "updated by the SDK"
    rotated = ok(human.agents.rotate_key(agent_id))
    assert rotated["api_key"].startswith("ocv_") and rotated["api_key"] != granted["key"]
    assert human.agents.delete(agent_id).meta.status == 204
    assert human.agents.get(agent_id).meta.status == 404


def test_policies_list_and_update(human, granted):
    vault_id = granted["vault"]["id"]
    policies = ok(human.policies.list(vault_id))["policies"]
    assert len(policies) == 1 and policies[0]["permissions"] == ["read"]
    assert policies[0]["secret_path_pattern"] == "api-keys/**"


def test_personal_api_key_client(base_url, human):
    created = ok(human.api_keys.create("sdk-key"))
    assert created["api_key"].startswith("1ck_")
    keyed = create_client(base_url=base_url, api_key=created["api_key"])
    vault = ok(keyed.vaults.create("made-with-1ck"))
    assert vault["name"] == "made-with-1ck"
    keys = ok(human.api_keys.list())["keys"]
    assert [k["prefix"] for k in keys] == [created["api_key"][:12]]


def test_org_members(human):
    members = ok(human.org.members())["members"]
    assert [m["email"] for m in members] == [human.email]
    assert members[0]["role"] == "owner"


def test_wrong_password_is_an_auth_error(base_url, human):
    client = create_client(base_url=base_url)
    resp = client.auth.login(human.email, PASSWORD + "x")
    assert resp.meta.status == 401
    assert resp.error is not None


def test_link_share_round_trip(base_url, human):
    vault = ok(human.vaults.create("to-share"))
    secret = ok(human.secrets.set(vault["id"], "share/it", "sdk-shared-value"))
    share = ok(
        human.sharing.create(
            secret["id"],
            recipient_type="anyone_with_link",
            expires_at="2999-01-01T00:00:00Z",
            max_access_count=1,
            passphrase="sdk passphrase",
        )
    )
    stranger = create_client(base_url=base_url)
    assert stranger.sharing.access(share["id"], passphrase="wrong").meta.status == 403
    opened = ok(stranger.sharing.access(share["id"], passphrase="sdk passphrase"))
    assert opened["value"] == "sdk-shared-value"
    assert stranger.sharing.access(share["id"], passphrase="sdk passphrase").meta.status == 410
    outbound = ok(human.sharing.list_outbound())["shares"]
    assert [s["id"] for s in outbound] == [share["id"]]
