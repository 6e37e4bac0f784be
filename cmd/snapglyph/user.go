package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// user runs the user commands: what the operator does for a person's
// account, whatever organisations it belongs to.
func (e *env) user(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph user set-password …")
	}
	switch args[0] {
	case "set-password":
		fs := e.flagSet("user set-password")
		dsn := e.dbFlag(fs)
		pwStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input (required: a password is never an argument)")
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		const usage = "user set-password EMAIL --password-stdin [--json]"
		if err := needArgs(pos, 1, usage); err != nil {
			return err
		}
		if !*pwStdin {
			return snapglyph.Errorf(snapglyph.EINVALID, "give the password on standard input with --password-stdin (usage: snapglyph %s)", usage)
		}
		password, err := e.readPassword("user set-password EMAIL --password-stdin")
		if err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			u, ended, err := svc.SetPassword(ctx, snapglyph.Operator, pos[0], password)
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(struct {
					ID            string `json:"id"`
					Email         string `json:"email"`
					SessionsEnded int    `json:"sessionsEnded"`
				}{u.ID, u.Email, ended})
			}
			fmt.Fprintf(e.stdout, "the password of %s is set; %s ended\n", printable(u.Email), snapglyph.Plural(int64(ended), "session"))
			return nil
		})
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown user command %q: use set-password", args[0])
}

// maxPasswordLine is how much of standard input readPassword reads.
const maxPasswordLine = 64 << 10

// readPassword reads a password from the first line of standard input
// (--password-stdin), reading no more than maxPasswordLine: standard
// input may be anything. A terminal is refused before anything is read:
// what is typed there would be shown on the screen, with no prompt. The
// refusal shows how to pipe the password to command, the arguments after
// "snapglyph".
func (e *env) readPassword(command string) (string, error) {
	if isTerminal(e.stdin) {
		return "", snapglyph.Errorf(snapglyph.EINVALID,
			"--password-stdin reads the password from a pipe or a file, and standard input is a terminal (or another device), where it would show on the screen; pipe it: printf '%%s\\n' \"$PASSWORD\" | snapglyph %s", command)
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, maxPasswordLine)).ReadString('\n')
	if err != nil && line == "" {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "--password-stdin: no password on standard input")
	}
	if err != nil && len(line) == maxPasswordLine {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "--password-stdin: the first line of standard input is longer than %d bytes; a password has at most %d bytes",
			maxPasswordLine, service.MaxPasswordBytes)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "--password-stdin: the first line of standard input is empty")
	}
	return password, nil
}

// isTerminal reports whether r is a terminal: an open file that is a
// character device. (/dev/null is one too; it holds no password either.)
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
