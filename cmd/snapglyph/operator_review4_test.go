package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestOrgCreateKeepsExistingPassword (review 4 #1): org create with
// --password-stdin for an email that has an account used to replace that
// person's password and keep their sessions. It is refused, as sign-up
// and invitations refuse it, and nothing is created; without a password
// the account becomes the new organisation's Owner as it is.
func TestOrgCreateKeepsExistingPassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		env := map[string]string{"SNAPGLYPH_DB": db.DSN}
		cliWith(t, env, "the first password\n", 0, "org", "create", "--name", "Acme", "--owner-email", "owner@acme.test", "--password-stdin")
		svc := service.New(db.DB)
		client := service.Client{IP: "203.0.113.5"}
		ns, err := svc.SignIn(ctx, "owner@acme.test", "the first password", client, "")
		if err != nil {
			t.Fatal(err)
		}

		stdout, stderr := cliWith(t, env, "Yet-another-pass-77\n", 1, "org", "create", "--name", "Third", "--owner-email", " Owner@Acme.test", "--password-stdin")
		for _, want := range []string{"an account with the email owner@acme.test already exists", "nothing was created",
			"leave out --password-stdin", "snapglyph user set-password owner@acme.test --password-stdin"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr %q does not say %q", stderr, want)
			}
		}
		if stdout != "" {
			t.Errorf("stdout %q", stdout)
		}
		if _, err := svc.SignIn(ctx, "owner@acme.test", "the first password", client, ""); err != nil {
			t.Errorf("the old password no longer signs in: %v", err)
		}
		if _, err := svc.SignIn(ctx, "owner@acme.test", "Yet-another-pass-77", client, ""); err == nil {
			t.Error("the refused password signs in")
		}
		if _, err := svc.Session(ctx, ns.Token); err != nil {
			t.Errorf("the session ended: %v", err)
		}
		orgs, err := svc.Orgs(ctx, snapglyph.Operator, "2026-01")
		if err != nil || len(orgs) != 1 {
			t.Fatalf("%d organisations after the refusal, want 1 (%v)", len(orgs), err)
		}

		// Without a password: the account is the new Owner, password kept.
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Third", "--owner-email", "owner@acme.test", "--json")
		third := decode(t, out)["id"].(string)
		if _, err := svc.SignIn(ctx, "owner@acme.test", "the first password", client, ""); err != nil {
			t.Errorf("the password changed: %v", err)
		}
		if role, err := db.Role(ctx, third, ns.UserID); err != nil || role != snapglyph.RoleOwner {
			t.Errorf("role in the new organisation: %q, %v", role, err)
		}
	})
}

// TestPasswordStdinTerminal (review 4 #4): --password-stdin on a terminal
// waited with no prompt and showed what was typed. It is refused before
// anything is read, with the way to pipe the password.
func TestPasswordStdinTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/pw")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tt := range []struct {
		name string
		in   io.Reader
		want bool
	}{{"string", strings.NewReader("x"), false}, {"pipe", r, false}, {"file", file, false}} {
		if got := isTerminal(tt.in); got != tt.want {
			t.Errorf("isTerminal(%s) = %v", tt.name, got)
		}
	}

	// A pseudo-terminal's master side is a terminal device, and nobody
	// types on it: reading it would wait for ever.
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer tty.Close()
	if !isTerminal(tty) {
		t.Fatal("isTerminal(/dev/ptmx) = false")
	}
	for _, args := range [][]string{
		{"user", "set-password", "o@acme.test", "--password-stdin"},
		{"org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--password-stdin"},
	} {
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		env := mapEnv(map[string]string{"SNAPGLYPH_DB": t.TempDir() + "/snapglyph.db"})
		go func() { done <- runCommand(context.Background(), args, env, tty, &stdout, &stderr) }()
		select {
		case status := <-done:
			want := "pipe it: printf '%s\\n' \"$PASSWORD\" | snapglyph " + args[0] + " " + args[1]
			if status != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "is a terminal") {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", args[:2], status, stdout.String(), stderr.String(), want)
			}
		case <-time.After(5 * time.Second):
			tty.Close() // ends the read
			<-done
			t.Fatalf("%s read the terminal: it waited for a password with no prompt", args[:2])
		}
	}
}

// TestOrgLimitsBackToPlan (review 4 #7): a limit set with set-limits can
// be returned to the plan's (--api-calls plan), set-plan warns when one
// keeps the new plan's limit from applying, set-limits --json prints the
// limits, and limits above 10^12 are refused.
func TestOrgLimitsBackToPlan(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--json")
		org := decode(t, out)["id"].(string)
		stored := func() *snapglyph.Org {
			o, err := db.Org(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		maxPlan := snapglyph.PlanMax.Limits()

		out, _ = cli(t, db.DSN, 0, "org", "set-limits", org, "--api-calls", "1000", "--json")
		v := decode(t, out)
		if v["apiCallsLimit"] != 1000.0 || v["imageCreditsLimit"] != 200.0 || v["plan"] != "pro" {
			t.Errorf("set-limits --json printed %s", out)
		}
		if ol, _ := v["operatorLimits"].(map[string]any); len(ol) != 1 || ol["apiCalls"] != 1000.0 {
			t.Errorf("operatorLimits in %s", out)
		}

		// Moving to Max keeps 1000 calls: said on stderr and in JSON.
		out, errOut := cli(t, db.DSN, 0, "org", "set-plan", org, "max")
		want := "warning: the limits set with org set-limits stay, not the max plan's: 1000 API calls (the plan has 10000); for the plan's: snapglyph org set-limits " + org + " --api-calls plan\n"
		if out != "organisation "+org+" is now on the max plan\n" || errOut != want {
			t.Errorf("set-plan printed %q and %q, want the warning %q", out, errOut, want)
		}
		out, errOut = cli(t, db.DSN, 0, "org", "set-plan", org, "max", "--json")
		if v := decode(t, out); v["apiCallsLimit"] != 1000.0 || !strings.Contains(fmt.Sprint(v["warning"]), "--api-calls plan") || !strings.Contains(errOut, "warning:") {
			t.Errorf("set-plan --json printed %s and %q", out, errOut)
		}
		// On Starter the limits stay stored, but no key works: the warning
		// says so (it told of 1000 calls that "stay").
		_, errOut = cli(t, db.DSN, 0, "org", "set-plan", org, "starter")
		if !strings.Contains(errOut, "the starter plan has no API access, so every key is refused with 403 api_not_in_plan") {
			t.Errorf("set-plan starter warned %q", errOut)
		}
		// set-limits on Starter stores them for later and says so.
		out, errOut = cli(t, db.DSN, 0, "org", "set-limits", org, "--image-credits", "7", "--json")
		if v := decode(t, out); v["imageCreditsLimit"] != 7.0 || !strings.Contains(fmt.Sprint(v["warning"]), "no API access") ||
			!strings.Contains(errOut, "warning: the starter plan has no API access: these limits apply after an upgrade (snapglyph org set-plan "+org+" pro|max); meanwhile every key is refused with 403 api_not_in_plan") {
			t.Errorf("set-limits on starter printed %s and %q", out, errOut)
		}
		// So does a trial that ended (Starter's rules apply, the plan
		// stays "trial").
		cli(t, db.DSN, 0, "org", "set-plan", org, "trial")
		if _, err := db.SQL().ExecContext(ctx, `UPDATE orgs SET trial_ends_at = 1000 WHERE id = '`+org+`'`); err != nil {
			t.Fatal(err)
		}
		_, errOut = cli(t, db.DSN, 0, "org", "set-limits", org, "--image-credits", "7")
		if !strings.Contains(errOut, "warning: an ended trial has no API access") {
			t.Errorf("set-limits after the trial ended warned %q", errOut)
		}
		cli(t, db.DSN, 0, "org", "set-plan", org, "max")

		// Back to the plan's.
		out, _ = cli(t, db.DSN, 0, "org", "set-limits", org, "--api-calls", "plan", "--image-credits", "5", "--json")
		v = decode(t, out)
		if ol, _ := v["operatorLimits"].(map[string]any); v["apiCallsLimit"] != float64(maxPlan.APICalls) || v["imageCreditsLimit"] != 5.0 || len(ol) != 1 {
			t.Errorf("set-limits --api-calls plan --json printed %s", out)
		}
		if o := stored(); o.APICallsLimit != nil || o.ImageCreditLimit() != 5 {
			t.Errorf("stored %+v", o)
		}
		out, _ = cli(t, db.DSN, 0, "org", "set-limits", org, "--image-credits", "plan")
		if want := "limits of organisation " + org + ": 10000 API calls (the max plan's), 2000 image credits (the max plan's) a month\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		if o := stored(); o.APICallsLimit != nil || o.ImageCreditsLimit != nil {
			t.Errorf("stored %+v", o)
		}
		out, errOut = cli(t, db.DSN, 0, "org", "set-plan", org, "pro", "--json")
		if v := decode(t, out); v["apiCallsLimit"] != 1000.0 || v["warning"] != nil || errOut != "" {
			t.Errorf("set-plan with the plan's limits printed %s and %q", out, errOut)
		}
		out, _ = cli(t, db.DSN, 0, "org", "show", org)
		if !strings.Contains(out, "limits the plan's") {
			t.Errorf("org show: %s", out)
		}
		ev, _ := db.AuditEvents(ctx, org, 0, 10)
		var audited bool
		for _, e := range ev {
			audited = audited || e.Action == "org.limits_changed" && e.TargetName == "apiCalls=unchanged imageCredits=plan"
		}
		if !audited {
			t.Errorf("no audit event for the return to the plan's limit: %+v", ev)
		}

		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--api-calls", "1000000000001"}, "a limit is at most 1000000000000"},
			{[]string{"--image-credits", "9223372036854775807"}, "a limit is at most 1000000000000"},
			{[]string{"--api-calls", "-1"}, "cannot be negative"},
			{[]string{"--api-calls", "Plan"}, "or plan for the plan's limit"},
		} {
			if _, stderr := cli(t, db.DSN, 1, append([]string{"org", "set-limits", org}, tt.args...)...); !strings.Contains(stderr, tt.want) {
				t.Errorf("%q: stderr %q, want %q", tt.args, stderr, tt.want)
			}
		}
		if _, err := db.Org(ctx, org); err != nil {
			t.Fatal(err)
		}
		if o := stored(); o.APICallsLimit != nil || o.ImageCreditsLimit != nil {
			t.Errorf("a refused set-limits changed the limits: %+v", o)
		}
		if _, stderr := cli(t, db.DSN, 0, "org", "set-limits", org, "--api-calls", "1000000000000"); stderr != "" {
			t.Errorf("10^12 refused: %q", stderr)
		}
	})
}
