//! Principals built from stored users and agents.

use super::{Principal, Role};
use crate::error::{Error, Result};
use crate::model::{Agent, User};

/// The principal of a stored user. A role that does not parse is an error (503), never
/// read as some other role.
pub(crate) fn user_principal(u: &User, key_scopes: Option<Vec<String>>) -> Result<Principal> {
    Ok(Principal::User {
        user_id: u.id.clone(),
        org_id: u.org_id.clone(),
        email: u.email.clone(),
        role: Role::parse(&u.role).map_err(|_| Error::corrupt_rule("users", &u.id, "role"))?,
        key_scopes,
    })
}

pub(crate) fn agent_principal(a: &Agent) -> Principal {
    Principal::Agent {
        agent_id: a.id.clone(),
        org_id: a.org_id.clone(),
        created_by: a.created_by.clone(),
        scopes: a.scopes.clone(),
        scopes_explicit: a.scopes_explicit,
        vault_ids: a.vault_ids.clone(),
    }
}
