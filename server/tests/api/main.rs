//! The server's integration tests, one test binary: the real `talon` binary, a real SoftHSM
//! token, SQLite and PostgreSQL. Each module is one area; run one with `cargo test -p server
//! --test api MODULE::`.

#[macro_use]
mod common;

mod account;
mod agents_and_policies;
mod api;
mod approvals;
mod audit_export;
mod audit_verify;
mod billing;
mod bindings;
mod broker;
mod cli;
mod cli_approvals;
mod dashboard;
mod email;
mod env_vars;
mod gate;
mod google;
mod hardening;
mod honeytokens;
mod kek_rotation;
mod keystore_outage;
mod limits;
mod mcp;
mod mfa;
mod outages;
mod read_cache;
mod scopes;
mod secret_requests;
mod sharing;
mod slow_clients;
mod strict_shapes;
mod team;
mod token_identity;
mod versions;
mod webhooks;
