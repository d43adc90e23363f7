-- Credentials are versioned: every change of password, verified email or
-- phone, or authenticator bumps cred_version. A login (or a second-factor
-- flow) is finished only against the version it verified, with a
-- conditional UPDATE, so a login in flight during such a change gets no
-- session that would survive "every session ends".
ALTER TABLE users ADD COLUMN cred_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN cred_version INTEGER NOT NULL DEFAULT 0;
-- The second factors a login flow may be finished with, comma-separated
-- ("totp,recovery_code"), so that passkeys can be added beside TOTP.
ALTER TABLE flows ADD COLUMN factors TEXT NOT NULL DEFAULT '';

-- Email keys fold ASCII case only (see internal/identifier): SQLite's
-- lower() touches A-Z alone. Splitting keys can only make them more
-- distinct, never collide.
UPDATE users SET email_key = lower(email) WHERE email_key <> '';
