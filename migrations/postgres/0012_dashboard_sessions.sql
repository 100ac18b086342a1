-- Dashboard sessions (tower-sessions records): the session id is the cookie's value; data
-- holds who is signed in (never a token or a secret value); user_id lets "sign out
-- everywhere" end every session of a user at once.
CREATE TABLE dashboard_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
