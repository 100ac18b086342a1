//! Account and organization commands: personal API keys, members, IP rules, MFA status.

use super::args::{ApikeyCmd, IpRuleCmd, MemberCmd, MfaCmd};
use super::{Res, Session};
use reqwest::Method;
use serde_json::json;

pub async fn apikey(s: &mut Session, c: ApikeyCmd) -> Res {
    match c {
        ApikeyCmd::List => {
            let v = s.get("/v1/auth/api-keys").await?;
            s.show_list(
                &v,
                "keys",
                &["id", "name", "key_prefix", "scopes", "expires_at"],
            );
        }
        ApikeyCmd::Create {
            name,
            scopes,
            expires_at,
        } => {
            let mut body = json!({"name": name, "expires_at": expires_at});
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            let v = s
                .call(Method::POST, "/v1/auth/api-keys", &[], Some(&body))
                .await?;
            s.print_once(
                &v,
                "api_key",
                &format!("API key {}", super::scalar(&v["key"]["id"])),
            );
        }
        ApikeyCmd::Revoke { id } => {
            s.call(
                Method::DELETE,
                &format!("/v1/auth/api-keys/{id}"),
                &[],
                None,
            )
            .await?;
            println!("API key {id} revoked.");
        }
    }
    Ok(())
}

pub async fn member(s: &mut Session, c: MemberCmd) -> Res {
    match c {
        MemberCmd::List => {
            let v = s.get("/v1/org/members").await?;
            s.show_list(&v, "members", &["user_id", "email", "role", "joined_at"]);
        }
        MemberCmd::Invite { email, role } => {
            let v = s
                .call(
                    Method::POST,
                    "/v1/org/invite",
                    &[],
                    Some(&json!({"email": email, "role": role})),
                )
                .await?;
            s.show(&v);
        }
        MemberCmd::Role { user_id, role } => {
            let v = s
                .call(
                    Method::PATCH,
                    &format!("/v1/org/members/{user_id}"),
                    &[],
                    Some(&json!({ "role": role })),
                )
                .await?;
            s.show(&v);
        }
        MemberCmd::Remove { user_id } => {
            s.call(
                Method::DELETE,
                &format!("/v1/org/members/{user_id}"),
                &[],
                None,
            )
            .await?;
            println!("Member {user_id} removed.");
        }
    }
    Ok(())
}

pub async fn ip_rule(s: &mut Session, c: IpRuleCmd) -> Res {
    match c {
        IpRuleCmd::List => {
            let v = s.get("/v1/security/ip-rules").await?;
            s.show_list(
                &v,
                "rules",
                &["id", "rule_type", "cidr", "applies_to", "label"],
            );
        }
        IpRuleCmd::Add {
            cidr,
            rule_type,
            label,
            applies_to,
        } => {
            let v = s
                .call(
                    Method::POST,
                    "/v1/security/ip-rules",
                    &[],
                    Some(&json!({"cidr": cidr, "rule_type": rule_type, "label": label, "applies_to": applies_to})),
                )
                .await?;
            s.show(&v);
        }
        IpRuleCmd::Delete { id } => {
            s.call(
                Method::DELETE,
                &format!("/v1/security/ip-rules/{id}"),
                &[],
                None,
            )
            .await?;
            println!("IP rule {id} deleted.");
        }
    }
    Ok(())
}

pub async fn mfa(s: &mut Session, c: MfaCmd) -> Res {
    match c {
        MfaCmd::Status => {
            let v = s.get("/v1/auth/mfa/status").await?;
            s.show(&v);
        }
    }
    Ok(())
}
