-- Credentials are versioned: every change of password, verified email or
-- phone, or authenticator bumps cred_version. A login (or a second-factor
-- flow) is finished only against the version it verified, with a
-- conditional UPDATE that also locks the row, so a login in flight during
-- such a change gets no session that would survive "every session ends".
ALTER TABLE users ADD COLUMN cred_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN cred_version BIGINT NOT NULL DEFAULT 0;
-- The second factors a login flow may be finished with, comma-separated
-- ("totp,recovery_code"), so that passkeys can be added beside TOTP.
ALTER TABLE flows ADD COLUMN factors TEXT NOT NULL DEFAULT '';

-- Email keys fold ASCII case only (see internal/identifier): lower() under
-- the "C" collation touches A-Z alone, so the Kelvin sign or a dotted
-- capital I no longer fold into ASCII letters. Splitting keys can only
-- make them more distinct, never collide.
UPDATE users SET email_key = lower(email COLLATE "C") WHERE email_key <> '';
