// Command watchword is the account-security server: sign-up, login,
// sessions, step-up, identifier changes and authenticator apps.
//
//	watchword serve                       runs the server (migrates first)
//	watchword migrate                     applies pending migrations
//	watchword staff grant --email E --role reviewer|admin
//	watchword staff revoke --email E
//	watchword version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // IANA zones for --business-timezone on hosts without them
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchword:", err)
		os.Exit(1)
	}
}

const usage = `usage: watchword <command> [flags]

commands:
  serve      run the server (migrates the database first)
  migrate    apply pending migrations and exit
  staff      grant or revoke a staff role: staff grant --email E --role reviewer|admin
             (or --phone, --uid); staff revoke --email E
  version    print the version

Run "watchword serve -h" for the flags; each flag --name is also read from
the environment as WATCHWORD_NAME (the flag wins).`

// run dispatches a subcommand. It is main without the process: tests call it.
// Asking a command for help (-h, --help) is a success: its usage is printed.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "staff":
		return staff(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "watchword", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
