// Command snapglyph runs the SnapGlyph service and administers it.
//
//	snapglyph serve   [--addr 127.0.0.1:8080] [--db ./snapglyph.db | postgres://…]
//	snapglyph migrate [--db …]
//	snapglyph org create --name NAME --owner-email EMAIL [--plan starter|trial|pro|max] [--password-stdin] [--json]
//	snapglyph org set-plan ORG_ID PLAN
//	snapglyph org set-limits ORG_ID [--api-calls N] [--image-credits N]
//	snapglyph key create --org ORG_ID --name NAME [--json]
//	snapglyph key list --org ORG_ID [--all] [--json]
//	snapglyph key pause|resume|revoke KEY_ID
//
// Every flag can also be set by an environment variable SNAPGLYPH_<FLAG>
// (dashes become underscores); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "snapglyph:", errorText(err))
		}
		os.Exit(1)
	}
}

// errorText is what the operator reads when a command fails. A domain
// error is its message; anything else (a database that cannot be reached,
// a failed migration, a file that cannot be opened) is shown with its
// cause, since the command line is the operator's own tool: "Internal
// error." alone would leave them nothing to act on. Passwords in a
// database URL are masked.
func errorText(err error) string {
	var e *snapglyph.Error
	if errors.As(err, &e) && e.Code != snapglyph.EINTERNAL && e.Code != snapglyph.EUNAVAILABLE {
		return e.Message
	}
	return redactPasswords(err.Error())
}

// passwordInURL matches the password of a URL's user information
// ("postgres://user:password@host"), passwordField a "password=…" field
// of a connection string or URL query.
var (
	passwordInURL = regexp.MustCompile(`(://[^:/@\s]*):[^@\s]*@`)
	passwordField = regexp.MustCompile(`(?i)(password=)[^&\s]*`)
)

// redactPasswords masks every password a database URL or connection
// string in s may carry.
func redactPasswords(s string) string {
	s = passwordInURL.ReplaceAllString(s, "$1:xxxxx@")
	return passwordField.ReplaceAllString(s, "${1}xxxxx")
}

const usageText = `usage: snapglyph <command> [flags]

commands:
  serve        run the API (and dashboard)
  migrate      create or update the database schema
  org create | set-plan | set-limits
  key create | list | pause | resume | revoke
  version

Run "snapglyph <command> -h" for a command's flags.`

// env gives run its inputs, so tests can call it in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run executes one command line. Errors meant for the user are
// *snapglyph.Error; others are shown as internal.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprintln(stderr, usageText)
		return snapglyph.Errorf(snapglyph.EINVALID, "no command given")
	}
	switch args[0] {
	case "serve":
		return e.serve(ctx, args[1:])
	case "migrate":
		return e.migrate(ctx, args[1:])
	case "org":
		return e.org(ctx, args[1:])
	case "key":
		return e.key(ctx, args[1:])
	case "version":
		fmt.Fprintln(stdout, "snapglyph", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	fmt.Fprintln(stderr, usageText)
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown command %q", args[0])
}

var version = "dev"

// flagSet returns a FlagSet whose flags default to SNAPGLYPH_* variables.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// envDefault returns the environment variable for a flag, or def.
func (e *env) envDefault(flagName, def string) string {
	if v := e.getenv("SNAPGLYPH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))); v != "" {
		return v
	}
	return def
}

// parse parses flags that may come before or after positional arguments
// ("set-limits ORG --api-calls 5") and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (e *env) dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", e.envDefault("db", "./snapglyph.db"), "database: a SQLite file path, or a postgres:// URL (env SNAPGLYPH_DB)")
}
