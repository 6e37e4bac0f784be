// Command snapglyph runs the SnapGlyph service and administers it.
//
//	snapglyph serve   [--addr 127.0.0.1:8080] [--db ./snapglyph.db | postgres://…]
//	snapglyph migrate [--db …]
//	snapglyph org create --name NAME --owner-email EMAIL [--plan starter|trial|pro|max] [--password-stdin] [--json]
//	snapglyph org set-plan ORG_ID PLAN [--json]
//	snapglyph org set-limits ORG_ID [--api-calls N|plan] [--image-credits N|plan] [--json]
//	snapglyph org set-owner ORG_ID EMAIL [--json]
//	snapglyph user set-password EMAIL --password-stdin [--json]
//	snapglyph key create --org ORG_ID --name NAME [--json]
//	snapglyph key list --org ORG_ID [--all] [--json]
//	snapglyph key pause|resume|revoke KEY_ID
//	snapglyph logs --org ORG_ID [--key KEY_ID] [--status 401|4xx] [--since 1h] [--limit N] [--json] …
//
// Every flag of serve, and --db of every command, can also be set by an
// environment variable SNAPGLYPH_<FLAG> (dashes become underscores); a flag
// on the command line wins. A bad value in a variable is refused like a
// bad flag.
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// main is the process around runCommand: the signals that stop serve,
// the real arguments, environment and standard streams, the exit status.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := runCommand(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(status)
}

// runCommand runs one command line as the binary does, with everything
// from outside passed in (the tests call it in process): a failure is
// printed to stderr as "snapglyph: message" and the exit status is 1.
// Asking for a command's help (-h) prints the help (to stderr, as the
// flag package does) and succeeds, as flag.ExitOnError would.
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdin, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "snapglyph:", errorText(err))
	return 1
}

// errorText is what the operator reads when a command fails. A domain
// error is its message; anything else (a database that cannot be reached,
// a failed migration, a file that cannot be opened) is shown with its
// cause, since the command line is the operator's own tool: "Internal
// error." alone would leave them nothing to act on. Passwords in a
// database URL are masked. A message that quotes a huge value from the
// command line ("no API key has the id …") is cut to a readable length.
//
// Whatever the message, an API key in it is cut to its prefix (a key
// pasted where a plan, a duration or a command goes is quoted back, and
// standard error often ends in a CI log), it is one line (a PostgreSQL
// connection error lists each address tried on a line of its own), and
// control characters are escaped (an unknown flag's name is echoed as
// typed, and an escape sequence would act on the terminal).
func errorText(err error) string {
	msg := err.Error()
	var e *snapglyph.Error
	if errors.As(err, &e) && e.Kind != snapglyph.EINTERNAL && e.Kind != snapglyph.EUNAVAILABLE {
		msg = e.Message
	}
	return cutText(oneLine(snapglyph.RedactKeys(redactPasswords(msg))))
}

// oneLine joins s's lines with "; " and escapes what is left as
// printable does.
func oneLine(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(printable(line))
	}
	return b.String()
}

// printable returns text that came from outside the CLI (a name, an
// email, a request's address or user agent, a reason, an error) as it
// may be written to a terminal: each control character (ESC, BEL, CR, a
// line feed, a tab, DEL, a C1 control such as the 8-bit CSI U+009B),
// format character (a bidi override, a zero-width space) or other
// invisible character (snapglyph.Hidden) is written as Go escapes it
// (\x1b, \n, \u202e), and a byte that is not UTF-8 as \xff. An escape
// sequence would otherwise act on the operator's terminal (retitle it,
// clear it, hide what follows), and a line break or a CR would start a
// line that passes for another row. The database may hold such text from
// before the recorded values were cleaned, so it is escaped when shown,
// whatever its origin. Plain printable ASCII, the common case, is
// returned as it is.
func printable(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for rest := s[i:]; rest != ""; {
		r, n := utf8.DecodeRuneInString(rest)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", rest[0])
		case snapglyph.Hidden(r):
			q := strconv.QuoteRuneToASCII(r) // a blank letter too: \u3164
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(rest[:n])
		}
		rest = rest[n:]
	}
	return b.String()
}

// maxErrorText is the longest message errorText returns, in bytes.
const maxErrorText = 500

// cutText cuts s to maxErrorText bytes, on a character boundary, saying
// how long it was.
func cutText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	return fmt.Sprintf("%s (%d bytes in all)", snapglyph.Shorten(s, maxErrorText), len(s))
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
  org          create | list | show | set-plan | set-limits | set-owner | requests
  user         set-password
  key          create | list | show | pause | resume | revoke | rename | restrict | roll | end-overlap
  logs         an organisation's API request log
  webhook      create | list | delete
  version

Run "snapglyph <command> -h" for a command's flags.`

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// env gives run its inputs, so tests can call it in process.
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
	if len(args) == 2 && (args[0] == "org" || args[0] == "key" || args[0] == "user" || args[0] == "webhook") && isHelp(args[1]) {
		// A group's help: its commands, from the overview.
		for _, line := range strings.Split(usageText, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == args[0] {
				fmt.Fprintf(stdout, "usage: snapglyph %s %s\nRun \"snapglyph %s <command> -h\" for a command's flags.\n", args[0], strings.Join(f[1:], " "), args[0])
			}
		}
		return nil
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
	case "user":
		return e.user(ctx, args[1:])
	case "logs":
		return e.logs(ctx, args[1:])
	case "webhook":
		return e.webhook(ctx, args[1:])
	case "version":
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprintln(stdout, "usage: snapglyph version")
			return nil
		}
		if len(args) > 1 {
			return snapglyph.Errorf(snapglyph.EINVALID, "unexpected argument %s; usage: snapglyph version", quoteValue(args[1]))
		}
		fmt.Fprintln(stdout, "snapglyph", version)
		return nil
	case "help", "-h", "--help":
		if len(args) > 1 && !isHelp(args[1]) {
			// "help key" is "key -h".
			return run(ctx, append(slices.Clone(args[1:]), "-h"), e.getenv, e.stdin, stdout, stderr)
		}
		fmt.Fprintln(stdout, usageText)
		return nil
	}
	if strings.HasPrefix(args[0], "-") {
		// "snapglyph --db x.db org list": flags belong to a command.
		return snapglyph.Errorf(snapglyph.EINVALID, "%s comes before the command: flags go after it (snapglyph org list --db FILE); snapglyph help lists the commands",
			quoteValue(args[0]))
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown command %q; snapglyph help lists the commands", args[0])
}

var version = "dev"

// flags is a command's FlagSet. Some of its flags fall back to an
// environment variable SNAPGLYPH_<FLAG> (dashes become underscores) when
// the command line does not give them.
type flags struct {
	*flag.FlagSet
	getenv func(string) string
	env    []string          // flags that have a variable, in definition order
	origin map[string]string // how a flag set from its variable is named in messages
	help   io.Writer         // where -h lists the flags
	checks map[string]func(string) error
}

// flagSet returns an empty flags for the command.
func (e *env) flagSet(name string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flags are listed for -h only, by parse: a mistake gets its
	// one-line error, not the flag package's echo and a screen of usage.
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, getenv: e.getenv, origin: map[string]string{}, help: e.stderr, checks: map[string]func(string) error{}}
}

// must adds a check of a flag's value beyond its type ("must be
// positive"). parse runs it on the command line's value and on the
// variable's, also when the command line overrides the variable.
func (fs *flags) must(name string, check func(v string) error) { fs.checks[name] = check }

// envVar is the environment variable of a flag.
func envVar(flagName string) string {
	return "SNAPGLYPH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// withEnv records that the flag just defined has a variable and says so
// in its help.
func (fs *flags) withEnv(name string) {
	fs.env = append(fs.env, name)
	f := fs.Lookup(name)
	f.Usage += " (env " + envVar(name) + ")"
}

// envString defines a string flag with a variable.
func (fs *flags) envString(name, def, usage string) *string {
	p := fs.String(name, def, usage)
	fs.withEnv(name)
	return p
}

// envInt defines an int flag with a variable.
func (fs *flags) envInt(name string, def int, usage string) *int {
	p := fs.Int(name, def, usage)
	fs.withEnv(name)
	return p
}

// envDuration defines a duration flag with a variable.
func (fs *flags) envDuration(name string, def time.Duration, usage string) *time.Duration {
	p := fs.Duration(name, def, usage)
	fs.withEnv(name)
	return p
}

// envBool defines a boolean flag with a variable; the variable takes
// what strconv.ParseBool takes (1, t, true, TRUE, 0, f, false…).
func (fs *flags) envBool(name string, def bool, usage string) *bool {
	p := fs.Bool(name, def, usage)
	fs.withEnv(name)
	return p
}

// name is how messages refer to a flag's value: --flag="value", or
// SNAPGLYPH_FLAG="value" when it came from the variable.
func (fs *flags) name(flagName string) string {
	if o, ok := fs.origin[flagName]; ok {
		return o
	}
	return "--" + flagName + "=" + quoteValue(fs.Lookup(flagName).Value.String())
}

// parse parses flags that may come before or after positional arguments
// ("set-limits ORG --api-calls 5") and returns the positionals. Then each
// flag with a variable that the command line did not give takes the
// variable's value. A bad value in a variable is refused like a bad flag,
// naming the variable and the value, even when the command line
// overrides it: a setting is never silently ignored.
func parse(fs *flags, args []string) ([]string, error) {
	if err := checkArgs(fs, args); err != nil {
		return nil, err
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(fs.help, "Usage of %s:\n", fs.Name())
				fs.SetOutput(fs.help)
				fs.PrintDefaults()
				fs.SetOutput(io.Discard)
				return nil, err
			}
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "%v (snapglyph %s --help lists the flags)", err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	given := map[string]bool{}
	var err error
	fs.Visit(func(f *flag.Flag) {
		given[f.Name] = true
		if check := fs.checks[f.Name]; check != nil && err == nil {
			if cerr := check(f.Value.String()); cerr != nil {
				err = snapglyph.Errorf(snapglyph.EINVALID, "%s: %v", fs.name(f.Name), cerr)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, name := range fs.env {
		variable := envVar(name)
		v := fs.getenv(variable)
		if v == "" {
			continue
		}
		shown := fmt.Sprintf("%s=%s", variable, quoteValue(v))
		if err := checkValue(fs.Lookup(name), v); err != nil {
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s: %v", shown, err)
		}
		if check := fs.checks[name]; check != nil {
			if err := check(v); err != nil {
				return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s: %v", shown, err)
			}
		}
		if given[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s: %v", shown, err)
		}
		fs.origin[name] = shown
	}
	return pos, nil
}

// checkArgs refuses, before the flag package sees them, a flag given
// twice, a flag value that is not of the flag's type (in the same words as a bad variable,
// without the whole usage after it) and a boolean flag followed by a
// separate "true" or "false": the flag package reads "--request-log
// false" as the flag alone (true) and a positional "false".
func checkArgs(fs *flags, args []string) error {
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			continue // the flag package names it
		}
		// The flag package keeps the last of a repeated flag: "--org A
		// --org B" would act on B without a word.
		if seen[f.Name] {
			return snapglyph.Errorf(snapglyph.EINVALID, "--%s is given twice; give it once", f.Name)
		}
		seen[f.Name] = true
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			if !hasValue {
				if i+1 < len(args) {
					if _, err := strconv.ParseBool(args[i+1]); err == nil {
						return snapglyph.Errorf(snapglyph.EINVALID, "--%s takes its value after an equals sign: write --%s=%s (a separate %s would be read as an argument)",
							name, name, quoteArg(args[i+1]), quoteArg(args[i+1]))
					}
				}
				continue
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				continue // the flag package says the value is missing
			}
			i++
			value = args[i]
		}
		if err := checkValue(f, value); err != nil {
			return snapglyph.Errorf(snapglyph.EINVALID, "--%s=%s: %v", name, quoteValue(value), err)
		}
	}
	return nil
}

// quoteArg is v as a user would type it back: bare when it is a plain
// word, quoted otherwise.
func quoteArg(v string) string {
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return quoteValue(v)
		}
	}
	return v
}

// checkValue reports why v is not a valid value for the flag, in the
// terms of the flag's type.
func checkValue(f *flag.Flag, v string) error {
	var err error
	var want string
	switch f.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		_, err = time.ParseDuration(v)
		want = "invalid duration (examples: 500ms, 1s, 2m)"
	case int:
		_, err = strconv.ParseInt(v, 0, strconv.IntSize)
		want = "not a whole number"
		if errors.Is(err, strconv.ErrRange) {
			want = "out of range"
		}
	case bool:
		_, err = strconv.ParseBool(v)
		want = "not a boolean (true, false, 1, 0, t, f)"
	}
	if err != nil {
		return errors.New(want)
	}
	return nil
}

// quoteValue quotes a value from outside for a message: escaped (control
// characters, invalid UTF-8) and cut to a readable length.
func quoteValue(v string) string {
	const max = 80
	if len(v) > max {
		return fmt.Sprintf("%q… (%d bytes)", v[:max], len(v))
	}
	return fmt.Sprintf("%q", v)
}

func (e *env) dbFlag(fs *flags) *string {
	return fs.envString("db", "./snapglyph.db", "database: a SQLite file path, or a postgres:// URL")
}
