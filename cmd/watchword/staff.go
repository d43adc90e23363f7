package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/identifier"
)

// staff grants or revokes a staff role.
func staff(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "grant" && args[0] != "revoke") {
		return errors.New("usage: watchword staff grant --email E --role reviewer|admin | watchword staff revoke --email E (or --phone, --uid)")
	}
	verb := args[0]
	cfg := &Config{}
	fs := flag.NewFlagSet("staff "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bindFlags(fs)
	var emailArg, phoneArg, uid, role string
	fs.StringVar(&emailArg, "email", "", "the user's email")
	fs.StringVar(&phoneArg, "phone", "", "the user's phone")
	fs.StringVar(&uid, "uid", "", "the user's uid")
	if verb == "grant" {
		fs.StringVar(&role, "role", "", "reviewer or admin")
	}
	if err := parseWithEnv(fs, args[1:], getenv); err != nil {
		return err
	}
	given := 0
	for _, v := range []string{emailArg, phoneArg, uid} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return errors.New("name the user with exactly one of --email, --phone or --uid")
	}
	if verb == "grant" && role != account.RoleReviewer && role != account.RoleAdmin {
		return errors.New("--role must be reviewer or admin")
	}
	var err error
	if emailArg != "" {
		if _, emailArg, err = identifier.Email(emailArg); err != nil {
			return fmt.Errorf("--email: %w", err)
		}
	}
	if phoneArg != "" {
		if phoneArg, err = identifier.Phone(phoneArg); err != nil {
			return fmt.Errorf("--phone: %w", err)
		}
	}
	cfg.resolve()
	db, _, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.FindUser(ctx, emailArg, phoneArg, uid)
	if errors.Is(err, account.ErrNoRows) {
		return errors.New("no such user")
	}
	if err != nil {
		return err
	}
	if verb == "grant" {
		err = account.GrantRole(ctx, db, u.UID, role)
	} else {
		err = account.RevokeRoles(ctx, db, u.UID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: user %s\n", verb, u.UID)
	return nil
}
