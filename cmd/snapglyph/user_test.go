package main

import (
	"context"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestUserSetPassword is the operator's reset of a forgotten password
// (review 5 #1): from standard input only, the dashboard's rules, every
// session of the person ends, audited in each of their organisations.
func TestUserSetPassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		env := map[string]string{"SNAPGLYPH_DB": db.DSN}
		out, _ := cliWith(t, env, "the first password\n", 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--password-stdin", "--json")
		org := decode(t, out)["id"].(string)
		svc := service.New(db.DB)
		ns, err := svc.SignIn(ctx, "o@acme.test", "the first password", service.Client{IP: "203.0.113.5"}, "")
		if err != nil {
			t.Fatal(err)
		}
		huge := strings.Repeat("x", 70<<10)
		for _, tt := range []struct {
			args  []string
			stdin string
			want  string
		}{
			{[]string{"user", "set-password", "o@acme.test"}, "a new long password\n", "--password-stdin"},
			{[]string{"user", "set-password", "--password-stdin"}, "a new long password\n", "usage: snapglyph user set-password EMAIL"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, "", "no password on standard input"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, "\n", "the first line of standard input is empty"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, "short\n", "at least 10 characters"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, "aaaaaaaaaaaaaaa\n", "4 different characters"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, "a long pass\x00word\n", "NUL"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, "a long pass\xffword\n", "UTF-8"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, huge, "longer than 65536 bytes; a password has at most 1024 bytes"},
			{[]string{"user", "set-password", "o@acme.test", "--password-stdin"}, strings.Repeat("abcd", 300) + "\n", "a password has at most 1024 bytes; this one has 1200"},
			{[]string{"user", "set-password", "nobody@acme.test", "--password-stdin"}, "a new long password\n", "no account has the email nobody@acme.test"},
			{[]string{"user", "set-password", "o\x00@acme.test", "--password-stdin"}, "a new long password\n", "NUL"},
			{[]string{"user", "set-password", "o\xff@acme.test", "--password-stdin"}, "a new long password\n", "UTF-8"},
			{[]string{"user", "set-password", huge + "@acme.test", "--password-stdin"}, "a new long password\n", "bytes in all)"},
		} {
			name := strings.Join(tt.args, " ")
			t.Run(name[:min(len(name), 60)], func(t *testing.T) {
				stdout, stderr := cliWith(t, env, tt.stdin, 1, tt.args...)
				if !strings.Contains(stderr, tt.want) || stdout != "" || len(stderr) > 600 {
					t.Errorf("stderr %.300q does not say %q, or stdout %q", stderr, tt.want, stdout)
				}
			})
		}
		if _, err := svc.Session(ctx, ns.Token); err != nil {
			t.Fatalf("a refused reset ended the session: %v", err)
		}
		out, _ = cliWith(t, env, "a new long password\r\n", 0, "user", "set-password", " O@Acme.test ", "--password-stdin", "--json")
		got := decode(t, out)
		if got["email"] != "o@acme.test" || got["sessionsEnded"] != float64(1) {
			t.Errorf("printed %s", out)
		}
		if _, err := svc.Session(ctx, ns.Token); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
			t.Errorf("the session goes on: %v", err)
		}
		if _, err := svc.SignIn(ctx, "o@acme.test", "a new long password", service.Client{IP: "203.0.113.5"}, ""); err != nil {
			t.Errorf("sign in with the new password: %v", err)
		}
		ev, _ := db.AuditEvents(ctx, org, 0, 1)
		if len(ev) != 1 || ev[0].Action != "user.password_reset" || ev[0].ActorLabel != "operator (CLI)" || ev[0].TargetName != "o@acme.test" {
			t.Errorf("audit %+v", ev)
		}
		out, _ = cliWith(t, env, "a third long password\n", 0, "user", "set-password", "o@acme.test", "--password-stdin")
		if out != "the password of o@acme.test is set; 1 session ended\n" {
			t.Errorf("printed %q", out)
		}
	})
}

// TestOrgSetOwner is the operator's ownership transfer (review 5 #2).
func TestOrgSetOwner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--json")
		org := decode(t, out)["id"].(string)
		if _, err := db.AddMember(ctx, org, "m@acme.test", snapglyph.RoleMember); err != nil {
			t.Fatal(err)
		}
		cli(t, db.DSN, 0, "org", "create", "--name", "Other", "--owner-email", "x@other.test")
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"org", "set-owner", org}, "usage: snapglyph org set-owner ORG_ID EMAIL"},
			{[]string{"org", "set-owner", "org_missing", "m@acme.test"}, "no organisation"},
			{[]string{"org", "set-owner", org, "x@other.test"}, "not a member of the organisation"},
			{[]string{"org", "set-owner", org, "nobody@acme.test"}, "no account has the email"},
			{[]string{"org", "set-owner", org, "o@acme.test"}, "already the Owner"},
			{[]string{"org", "set-owner", org, "m\x00@acme.test"}, "NUL"},
			{[]string{"org", "set-owner", org, "m\xff@acme.test"}, "UTF-8"},
			{[]string{"org", "set-owner", org, strings.Repeat("m", 70<<10) + "@acme.test"}, "bytes in all)"},
		} {
			if stdout, stderr := cli(t, db.DSN, 1, tt.args...); !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("%.60q: stderr %.300q, want %q", tt.args, stderr, tt.want)
			}
		}
		out, _ = cli(t, db.DSN, 0, "org", "set-owner", org, "M@acme.test")
		if out != "m@acme.test is now the Owner of "+org+"; o@acme.test is an Admin\n" {
			t.Errorf("printed %q", out)
		}
		out, _ = cli(t, db.DSN, 0, "org", "set-owner", org, "o@acme.test", "--json")
		if got := decode(t, out); got["owner"] != "o@acme.test" || got["previousOwner"] != "m@acme.test" {
			t.Errorf("printed %s", out)
		}
		ev, _ := db.AuditEvents(ctx, org, 0, 1)
		if len(ev) != 1 || ev[0].Action != "org.owner_transferred" || ev[0].Actor != "operator" {
			t.Errorf("audit %+v", ev)
		}
	})
}
