//! Dashboard sessions: the records behind the dashboard's session cookie, and who a
//! session signs in. A record holds the signed-in user's id, never a token or a value.

use super::{AuditEvent, Core, Principal, RequestContext};
use crate::error::Result;
use crate::store::{dashboard_sessions as store, users};
use serde_json::json;

impl Core {
    /// Stores a session record (insert or replace).
    pub async fn session_save(
        &self,
        id: &str,
        user_id: Option<&str>,
        data: &str,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.store().begin().await?;
        store::upsert(&mut tx, id, user_id, data, expires_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new session record; `false` when the id is already taken.
    pub async fn session_create(
        &self,
        id: &str,
        user_id: Option<&str>,
        data: &str,
        expires_at: i64,
    ) -> Result<bool> {
        let mut tx = self.store().begin().await?;
        let inserted = store::insert_new(&mut tx, id, user_id, data, expires_at).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// A session record's data and expiry, unless it is missing or expired.
    pub async fn session_load(&self, id: &str) -> Result<Option<(String, i64)>> {
        store::load(self.store().pool(), id, self.now()).await
    }

    /// Deletes one session record.
    pub async fn session_delete(&self, id: &str) -> Result<()> {
        let mut tx = self.store().begin().await?;
        store::delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes expired session records; answers how many.
    pub async fn sessions_expire(&self) -> Result<u64> {
        let mut tx = self.store().begin().await?;
        let n = store::delete_expired(&mut tx, self.now()).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Signs the user out everywhere: every dashboard session and every refresh token of
    /// the user end, in one transaction, audited as `auth.logout_everywhere`.
    pub async fn sign_out_everywhere(&self, p: &Principal, ctx: &RequestContext) -> Result<u64> {
        let (user_id, _) = p.require_human()?;
        let mut tx = self.store().begin().await?;
        let ended = store::delete_for_user(&mut tx, user_id).await?;
        users::revoke_user_refresh_tokens(&mut tx, user_id, self.now()).await?;
        self.append_audit(
            &mut tx,
            ctx,
            AuditEvent::by(
                p,
                "auth.logout_everywhere",
                "auth",
                Some(user_id.to_owned()),
                json!({ "sessions_ended": ended }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }
}
