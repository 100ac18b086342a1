//! The domain models the services return: what a vault, agent, policy, secret version,
//! share, audit record, user, API key, IP rule, webhook or honeytoken is, as the doors (REST,
//! dashboard, MCP) see it. The store decodes its rows into these; SQL stays in `store`.

mod agent;
mod api_key;
mod approval;
mod audit;
mod binding;
mod honeytoken;
mod ip_rule;
mod policy;
mod secret;
mod secret_request;
mod share;
mod user;
mod vault;
mod webhook;

pub use agent::Agent;
pub use api_key::ApiKey;
pub use approval::{Approval, ApprovalVote};
pub use audit::AuditRecord;
pub use binding::{Binding, CredentialSource, Execution};
pub use honeytoken::{Honeytoken, OnTrigger};
pub use ip_rule::IpRule;
pub use policy::Policy;
pub use secret::SecretVersion;
pub use secret_request::SecretRequest;
pub use share::Share;
pub use user::User;
pub use vault::Vault;
pub use webhook::{Webhook, WebhookDelivery};
