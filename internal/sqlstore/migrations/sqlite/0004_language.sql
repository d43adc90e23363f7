-- The language of an account's mails and SMS ("en", "zh-CN"): the one
-- chosen at sign-up, then that of the last login. Accounts made before
-- languages existed got English messages, and keep them.
ALTER TABLE users ADD COLUMN lang TEXT NOT NULL DEFAULT 'en';
