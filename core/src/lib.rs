#![deny(missing_docs)]

//! Talon's core: the product's rules (who may do what, what a secret version is, when a read is
//! gone, what the audit chain records), over a storage handle and a keystore. It knows nothing of
//! HTTP, Leptos, MCP or SQL dialects; the doors (REST, dashboard, MCP, CLI) call into [`Core`].

pub(crate) mod audit_chain;
pub mod binding_config;
pub mod clock;
pub mod envelope;
pub mod error;
pub mod keystore;
pub mod mail;
pub mod material;
pub mod model;
pub mod policy;
pub mod secret_path;
pub mod service;
pub mod store;
pub mod token;
pub mod totp;
pub mod webhook_signature;
pub mod webhook_target;

pub use error::{Dependency, Error, Result};
pub use service::{
    bearer_token, Access, Admitted, AgentCreated, AgentToken, Core, CoreConfig, CreateAgent,
    CreatePolicy, Credential, HealthReport, LoginOutcome, Operation, PatchAgent, Principal,
    PutSecret, RequestContext, Role, SecretRead, Signup, SignupOutcome, UpdatePolicy,
};
