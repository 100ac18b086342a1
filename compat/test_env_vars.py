"""1claw's env-var calls through the oneclaw SDK: create, resolve with a branch override,
update to a new version, read one, delete; an agent limited by policy to production."""

from conftest import ok


def test_env_vars_round_trip_through_the_sdk(human):
    vault = ok(human.vaults.create("env-compat"))
    vid = vault["id"]
    created = ok(human.env_vars.create(vid, "DATABASE_URL", "postgres://compat-1"))
    assert created["environments"] == ["development", "preview", "production"]
    assert created["version"] == 1
    ok(
        human.env_vars.create(
            vid, "DATABASE_URL", "postgres://branch", environments=["preview"], git_branch="feat-1"
        )
    )

    resolved = ok(human.env_vars.resolve(vid, "preview", git_branch="feat-1"))
    assert resolved["vars"] == {"DATABASE_URL": "postgres://branch"}
    assert resolved["sources"] == {"DATABASE_URL": "branch_override"}
    assert ok(human.env_vars.resolve(vid, "production"))["vars"] == {
        "DATABASE_URL": "postgres://compat-1"
    }

    updated = ok(
        human.env_vars.update(vid, "DATABASE_URL", value="postgres://compat-2", environment="production")
    )
    assert updated["version"] == 2
    one = ok(human.env_vars.get(vid, "DATABASE_URL", environment="production"))
    assert (one["value"], one["version"]) == ("postgres://compat-2", 2)

    listed = ok(human.env_vars.list(vid, environment="preview"))
    assert {v["key"] for v in listed["env_vars"]} == {"DATABASE_URL"}

    resp = human.env_vars.delete(vid, "DATABASE_URL", environment="preview", git_branch="feat-1")
    assert resp.error is None, resp.error
    assert ok(human.env_vars.resolve(vid, "preview"))["sources"] == {"DATABASE_URL": "vault"}


def test_an_agent_granted_production_env_vars_is_refused_preview(base_url, human):
    from oneclaw import create_client

    vault = ok(human.vaults.create("env-agent"))
    vid = vault["id"]
    ok(human.env_vars.create(vid, "TOKEN", "prod-t", environments=["production"]))
    ok(human.env_vars.create(vid, "TOKEN", "preview-t", environments=["preview"]))
    created = ok(human.agents.create("env-agent", token_ttl_seconds=3600))
    ok(
        human.policies.create(
            vid,
            principal_type="agent",
            principal_id=created["agent"]["id"],
            secret_path_pattern="env/production/**",
        )
    )
    agent = create_client(base_url=base_url, api_key=created["api_key"])
    assert ok(agent.env_vars.resolve(vid, "production"))["vars"] == {"TOKEN": "prod-t"}
    refused = agent.env_vars.resolve(vid, "preview")
    assert refused.error is not None and refused.meta.status == 403
