-- Console sessions, shared by every API replica: a signed cookie names a session here, and it is
-- valid only while its row is unexpired and not ended (sign-out sets ended_at). `sid` is the
-- sha256 of the cookie's session id, so a copy of this table cannot be replayed as cookies.
-- `token_fp` fingerprints the agent's token at sign-in: a rotated token ends its sessions.
-- Rows past `expires_at` are deleted by the API (on sign-in, at most once a minute per process).
CREATE TABLE console_sessions (
    sid         text        PRIMARY KEY,
    agent       text        NOT NULL,
    role        text        NOT NULL,
    token_fp    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX console_sessions_agent ON console_sessions (agent);
