-- Every commit that changes what an instance's session cache keeps about
-- an account (a session ended or its privilege changed, the user row, its
-- roles, its active authenticator) notifies the account's uid on channel
-- watchword_changed; each instance listens and drops what it cached of
-- that uid (internal/sessioncache). Notifications are sent at commit and
-- never for a rolled-back transaction; identical ones in one transaction
-- are sent once. A touch of last_seen_at alone notifies nobody: it is the
-- one frequent write, and no cache keeps it.
CREATE FUNCTION watchword_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('watchword_changed', OLD.uid);
	ELSE
		PERFORM pg_notify('watchword_changed', NEW.uid);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER sessions_changed AFTER DELETE OR UPDATE OF uid, token_hash, expires_at, privileged_until
	ON sessions FOR EACH ROW EXECUTE FUNCTION watchword_notify_changed();

-- The WHEN clause skips updates that change nothing (CheckCredentials
-- locks the row with one).
CREATE TRIGGER users_changed AFTER UPDATE ON users
	FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION watchword_notify_changed();
CREATE TRIGGER users_deleted AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION watchword_notify_changed();

CREATE TRIGGER user_roles_changed AFTER INSERT OR DELETE OR UPDATE ON user_roles
	FOR EACH ROW EXECUTE FUNCTION watchword_notify_changed();

-- The learned clock offset (UPDATE OF offset_steps) is no business of a cache.
CREATE TRIGGER totp_changed AFTER INSERT OR DELETE OR UPDATE OF uid, pending ON totp_authenticators
	FOR EACH ROW EXECUTE FUNCTION watchword_notify_changed();
