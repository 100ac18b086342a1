//! What every door of Talon (REST, the dashboard's server functions, MCP, the CLI) and the
//! browser build must agree on: secret material types ([`SecretValue`], [`Password`],
//! [`BearerSecret`]), the vocabulary enums whose wire strings are part of the API contract
//! ([`SecretType`], [`Scope`], [`Permission`], [`Effect`], [`Role`], [`PrincipalKind`]), id
//! newtypes ([`VaultId`], [`SecretId`], ...), the env-bundle grammar ([`env_bundle`]) and the
//! request and response bodies of the REST contract, one module per noun ([`vaults`],
//! [`secrets`], [`env_vars`], [`shares`], [`agents`], [`policies`], [`audit`], [`auth`],
//! [`honeytokens`]).
//!
//! The crate depends on serde, serde_json, uuid and zeroize only, so it builds for
//! `wasm32-unknown-unknown`; it holds no rule that needs a database, a key or the clock.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agents;
pub mod audit;
pub mod auth;
pub mod env_bundle;
pub mod env_vars;
pub mod honeytokens;
mod ids;
mod material;
pub mod policies;
pub mod secrets;
pub mod shares;
pub mod vaults;
mod vocabulary;

pub use ids::{AgentId, ApiKeyId, IdError, OrgId, PolicyId, SecretId, ShareId, UserId, VaultId};
pub use material::{
    expose_bearer, expose_bearer_opt, expose_password, expose_value, expose_value_map,
    expose_value_opt, BearerSecret, Password, PasswordInput, SecretValue, SecretValueInput,
};
pub use vocabulary::{Effect, Permission, PrincipalKind, Role, Scope, SecretType, UnknownName};
