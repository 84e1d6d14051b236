-- OIDC sessions remember who the provider vouched for, so the provider can end them: `oidc_sub` and
-- `oidc_sid` (the ID token's `sub` and `sid`) are what a back-channel logout token names, and
-- `checked_at` is when the provider last confirmed the user (sign-in, then each userinfo re-check).
-- The provider's access and refresh tokens stay here, server-side, for that re-check only: they are
-- cleared when the session ends and go with the row when it is deleted.
ALTER TABLE console_sessions
    ADD COLUMN oidc_sub      text,
    ADD COLUMN oidc_sid      text,
    ADD COLUMN checked_at    timestamptz,
    ADD COLUMN access_token  text,
    ADD COLUMN refresh_token text;
CREATE INDEX console_sessions_oidc_sub ON console_sessions (oidc_sub) WHERE oidc_sub IS NOT NULL;
CREATE INDEX console_sessions_oidc_sid ON console_sessions (oidc_sid) WHERE oidc_sid IS NOT NULL;
