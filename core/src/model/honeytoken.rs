//! A honeytoken: a secret path of an org marked as a trap.

/// What a trigger does besides recording `risk.honeytoken_triggered` and mailing the org's
/// owners and admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTrigger {
    /// Record and notify only (the default).
    Alert,
    /// Also deactivate the agent that touched the path, as `PATCH /v1/agents/{id}` with
    /// `is_active: false` does.
    Deactivate,
}

impl OnTrigger {
    /// The wire and storage name: `alert` or `deactivate`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnTrigger::Alert => "alert",
            OnTrigger::Deactivate => "deactivate",
        }
    }

    /// The setting named `s`, if it is one.
    pub fn parse(s: &str) -> Option<OnTrigger> {
        match s {
            "alert" => Some(OnTrigger::Alert),
            "deactivate" => Some(OnTrigger::Deactivate),
            _ => None,
        }
    }
}

/// One honeytoken as the doors see it. It holds no value: a canary's value is an ordinary
/// sealed secret at `secret_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Honeytoken {
    /// The honeytoken's id.
    pub id: String,
    /// The org it belongs to.
    pub org_id: String,
    /// The vault whose path it watches.
    pub vault_id: String,
    /// The watched secret path.
    pub secret_path: String,
    /// What a trigger does besides alerting.
    pub on_trigger: OnTrigger,
    /// Free text for the org's admins.
    pub notes: Option<String>,
    /// Id of the user who created it.
    pub created_by: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
    /// How many times it has been triggered.
    pub triggered_count: i64,
    /// When it was last triggered, unix milliseconds.
    pub last_triggered_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::OnTrigger;

    #[test]
    fn on_trigger_names_round_trip_and_nothing_else_parses() {
        for t in [OnTrigger::Alert, OnTrigger::Deactivate] {
            assert_eq!(OnTrigger::parse(t.as_str()), Some(t));
        }
        for bad in ["", "Alert", "DEACTIVATE", "delete", "alert "] {
            assert_eq!(OnTrigger::parse(bad), None, "{bad:?}");
        }
    }
}
