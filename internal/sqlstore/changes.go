package sqlstore

// OnChange makes the store call fn with a uid after every commit that
// changed what a session cache keeps of it: its sessions (ended, or their
// privilege), its user row, its roles or its active authenticator. The
// calls are made from the write methods themselves, so no use case can
// forget one. Call it before the store is used; fn must not block.
func (db *DB) OnChange(fn func(uid string)) { db.store.changed = fn }

// userChanged reports uid once the current transaction commits (at once
// outside one). Methods that group statements with atomically call it on
// their own receiver after it returns: atomically's inner transaction
// does not run hooks.
func (s *store) userChanged(uid string) {
	if fn := s.changed; fn != nil {
		s.AfterCommit(func() { fn(uid) })
	}
}
