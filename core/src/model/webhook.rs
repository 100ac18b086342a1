//! A webhook: an endpoint of an org notified of its audit events, and its deliveries.

/// One webhook as the doors see it; never its signing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The webhook's id.
    pub id: String,
    /// The org whose events it receives.
    pub org_id: String,
    /// Where deliveries are posted.
    pub url: String,
    /// Subscribed audit actions, or `*` for every one.
    pub events: Vec<String>,
    /// Optional note.
    pub description: Option<String>,
    /// Whether new events are queued for it.
    pub is_active: bool,
    /// Id of the user who created it.
    pub created_by: String,
    /// When it was created, unix milliseconds.
    pub created_at: i64,
    /// The most recent delivery that has been attempted, if any.
    pub last_delivery: Option<WebhookDelivery>,
}

/// One queued delivery of an audit event to a webhook and how its attempts went. Holds
/// neither the body sent nor the answer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The delivery's id (the `X-Talon-Delivery` header).
    pub id: String,
    /// The webhook it goes to.
    pub webhook_id: String,
    /// The audit event it describes.
    pub event_id: String,
    /// That event's action (the `X-Talon-Event` header).
    pub action: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due, unix milliseconds (meaningful while `pending`).
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt, when one answered.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed, without any body or secret.
    pub last_error: Option<String>,
    /// When the last attempt was made, unix milliseconds.
    pub last_attempt_at: Option<i64>,
    /// When the delivery was queued, unix milliseconds.
    pub created_at: i64,
}
