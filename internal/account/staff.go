package account

import (
	"context"
	"fmt"
	"time"
)

// GrantRole gives uid a staff role and records it in the security log. It
// is used by the command line, which has no Service.
func GrantRole(ctx context.Context, store Store, uid, role string) error {
	if role != RoleReviewer && role != RoleAdmin {
		return Errorf(CodeInvalidRequest, "Unknown role %q.", role)
	}
	return store.Atomic(ctx, func(tx Tx) error {
		if err := tx.GrantRole(ctx, uid, role); err != nil {
			return fmt.Errorf("grant role: %w", err)
		}
		return tx.RecordEvent(ctx, &Event{UID: uid, Kind: EventRoleGranted, Detail: "role=" + role + " by=cli", CreatedAt: time.Now()})
	})
}

// RevokeRoles removes every staff role of uid and records it.
func RevokeRoles(ctx context.Context, store Store, uid string) error {
	return store.Atomic(ctx, func(tx Tx) error {
		if err := tx.RevokeRoles(ctx, uid); err != nil {
			return fmt.Errorf("revoke roles: %w", err)
		}
		return tx.RecordEvent(ctx, &Event{UID: uid, Kind: EventRoleRevoked, Detail: "by=cli", CreatedAt: time.Now()})
	})
}
