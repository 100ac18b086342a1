//! The dashboard's areas: one entry in the sidebar and one page each.

use crate::icons::Icon;

/// A dashboard area, in sidebar order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Overview (`/`).
    Dashboard,
    /// Vaults and their secrets.
    Vaults,
    /// Agents and their access policies.
    Agents,
    /// Shared secrets.
    Sharing,
    /// The organisation's audit log.
    AuditLog,
    /// Password, two-factor authentication and sessions.
    Security,
    /// Personal API keys.
    ApiKeys,
    /// Plan and usage.
    Billing,
    /// Members and invitations.
    Team,
    /// Requests held for a person's approval.
    Approvals,
}

impl Area {
    /// Every area, in the order the sidebar lists them.
    pub const ALL: [Area; 10] = [
        Area::Dashboard,
        Area::Vaults,
        Area::Agents,
        Area::Sharing,
        Area::AuditLog,
        Area::Security,
        Area::ApiKeys,
        Area::Billing,
        Area::Team,
        Area::Approvals,
    ];

    /// The name shown in the sidebar, as the page heading and in the title.
    pub fn label(self) -> &'static str {
        match self {
            Area::Dashboard => "Dashboard",
            Area::Vaults => "Vaults",
            Area::Agents => "Agents",
            Area::Sharing => "Sharing",
            Area::AuditLog => "Audit Log",
            Area::Security => "Security",
            Area::ApiKeys => "API Keys",
            Area::Billing => "Billing",
            Area::Team => "Team",
            Area::Approvals => "Approvals",
        }
    }

    /// The area's path in the dashboard.
    pub fn href(self) -> &'static str {
        match self {
            Area::Dashboard => "/",
            Area::Vaults => "/vaults",
            Area::Agents => "/agents",
            Area::Sharing => "/sharing",
            Area::AuditLog => "/audit",
            Area::Security => "/security",
            Area::ApiKeys => "/api-keys",
            Area::Billing => "/billing",
            Area::Team => "/team",
            Area::Approvals => "/approvals",
        }
    }

    pub(crate) fn icon(self) -> Icon {
        match self {
            Area::Dashboard => Icon::Dashboard,
            Area::Vaults => Icon::Vault,
            Area::Agents => Icon::Agent,
            Area::Sharing => Icon::Share,
            Area::AuditLog => Icon::AuditLog,
            Area::Security => Icon::Shield,
            Area::ApiKeys => Icon::Key,
            Area::Billing => Icon::CreditCard,
            Area::Team => Icon::Team,
            Area::Approvals => Icon::Approval,
        }
    }
}
