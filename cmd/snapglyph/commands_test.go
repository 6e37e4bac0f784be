package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestUsage: the command line without a command, help, version, and the
// command groups without or with an unknown subcommand.
func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		status     int
		stdout     string // prefix
		stderrTail string // suffix
	}{
		{nil, 1, "", "\nsnapglyph: no command given\n"},
		{[]string{"help"}, 0, "usage: snapglyph <command> [flags]", ""},
		{[]string{"-h"}, 0, "usage: snapglyph <command> [flags]", ""},
		{[]string{"--help"}, 0, "usage: snapglyph <command> [flags]", ""},
		{[]string{"version"}, 0, "snapglyph dev\n", ""},
		{[]string{"frobnicate"}, 1, "", "snapglyph: unknown command \"frobnicate\"; snapglyph help lists the commands\n"},
		{[]string{"--db", "x.db", "org", "list"}, 1, "", "snapglyph: \"--db\" comes before the command: flags go after it (snapglyph org list --db FILE); snapglyph help lists the commands\n"},
		{[]string{"org"}, 1, "", "snapglyph: usage: snapglyph org create|list|show|set-plan|set-limits|set-owner|requests …\n"},
		{[]string{"org", "rename"}, 1, "", "snapglyph: unknown org command \"rename\": use create, list, show, set-plan, set-limits, set-owner or requests\n"},
		{[]string{"user"}, 1, "", "snapglyph: usage: snapglyph user set-password …\n"},
		{[]string{"user", "delete"}, 1, "", "snapglyph: unknown user command \"delete\": use set-password\n"},
		{[]string{"user", "-h"}, 0, "usage: snapglyph user set-password\n", ""},
		{[]string{"key"}, 1, "", "snapglyph: usage: snapglyph key create|list|show|pause|resume|revoke|rename|restrict|roll|end-overlap …\n"},
		{[]string{"key", "delete"}, 1, "", "snapglyph: unknown key command \"delete\": use create, list, show, pause, resume, revoke, rename, restrict, roll or end-overlap\n"},
		// A group's help lists its commands and succeeds.
		{[]string{"org", "-h"}, 0, "usage: snapglyph org create | list | show | set-plan | set-limits | set-owner | requests\n", ""},
		{[]string{"key", "--help"}, 0, "usage: snapglyph key create | list | show", ""},
		{[]string{"webhook", "help"}, 0, "usage: snapglyph webhook create | list | delete\n", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			status, stdout, stderr := runCLI(nil, "", tt.args...)
			if status != tt.status || !strings.HasPrefix(stdout, tt.stdout) || (tt.stdout == "") != (stdout == "") || !strings.HasSuffix(stderr, tt.stderrTail) || (tt.stderrTail == "") != (stderr == "") {
				t.Errorf("status %d\nstdout %q\nstderr %q", status, stdout, stderr)
			}
		})
	}
	// The overview lists every subcommand of each group, as the group's
	// own usage line does.
	_, help, _ := runCLI(nil, "", "help")
	for _, group := range []string{"org", "key", "user", "webhook"} {
		_, _, stderr := runCLI(nil, "", group)
		subs := strings.Fields(strings.TrimSuffix(strings.TrimSpace(stderr[strings.Index(stderr, group+" ")+len(group)+1:]), "…"))
		var listed string
		for _, line := range strings.Split(help, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == group {
				listed = strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(line), group), "|", " ")), "|")
			}
		}
		if len(subs) != 1 || listed != subs[0] {
			t.Errorf("the overview lists %s %q, the group's usage %q", group, listed, subs)
		}
	}
	// A command's help lists its flags, and is no error: status 0.
	for _, args := range [][]string{{"serve", "-h"}, {"migrate", "-h"}, {"org", "create", "-h"}, {"org", "set-limits", "--help"}, {"key", "list", "-h"}} {
		status, stdout, stderr := runCLI(nil, "", args...)
		if status != 0 || stdout != "" || !strings.Contains(stderr, "-db string") || strings.Contains(stderr, "snapglyph:") {
			t.Errorf("%s: status %d, stdout %q, stderr %q", strings.Join(args, " "), status, stdout, stderr)
		}
	}
}

// counts is the number of rows of each table a command may change.
func counts(t testing.TB, db *testdb.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"orgs", "users", "memberships", "api_keys", "audit_events", "changes"} {
		var n int
		if err := db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// TestCLIBadInput: every mistake, and every hostile value (invalid UTF-8,
// NUL, huge), gets a short clear message on stderr, nothing on stdout,
// exit status 1, and changes nothing in the database.
func TestCLIBadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--json")
		org := decode(t, out)["id"].(string)
		out, _ = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Production-WebApp", "--json")
		kid := decode(t, out)["id"].(string)
		huge := strings.Repeat("x", 100000)
		tests := []struct {
			args  []string
			stdin string
			want  string
		}{
			{[]string{"key", "create", "--org", "org_missing", "--name", "Production"}, "", "no organisation"},
			{[]string{"key", "create", "--org", org, "--name", ""}, "", "name is required"},
			{[]string{"key", "create", "--org", org, "--name", strings.Repeat("k", 65)}, "", "65 characters"},
			{[]string{"key", "create", "--org", org, "--name", huge}, "", "100000 characters"},
			{[]string{"key", "create", "--org", org, "--name", "Prod\xffuction"}, "", "the key name must be valid UTF-8"},
			{[]string{"key", "create", "--org", org, "--name", "Prod\x00uction"}, "", "the key name contains a NUL character"},
			{[]string{"key", "create", "--org", org, "--name", "Prod\x01uction"}, "", "the key name may not contain control characters"},
			{[]string{"key", "create", "--org", "org\x00x", "--name", "Production"}, "", `no organisation has the id "org\x00x"`},
			{[]string{"key", "create", "--org", org, "--name", "Production", "extra"}, "", "usage: snapglyph key create"},
			{[]string{"key", "create", "--org", org, "--name", "Production", "--frob"}, "", "flag provided but not defined: -frob"},
			{[]string{"key", "pause", "key_missing"}, "", "no API key"},
			{[]string{"key", "pause", "key_\xff"}, "", `no API key has the id "key_\xff"`},
			{[]string{"key", "resume", huge}, "", "x…\"\n"},
			{[]string{"key", "revoke"}, "", "usage: snapglyph key revoke KEY_ID"},
			{[]string{"key", "revoke", kid, kid}, "", "usage: snapglyph key revoke KEY_ID"},
			{[]string{"key", "list", "--org", "org_missing"}, "", "no organisation"},
			{[]string{"key", "list", "--org", org, "extra"}, "", "usage: snapglyph key list"},
			{[]string{"key", "list", "--org", "\xff"}, "", `no organisation has the id "\xff"`},
			{[]string{"key", "list", "--org", org, "--all=maybe"}, "", `--all="maybe": not a boolean`},
			{[]string{"org", "create", "--name", "\x1b[31mRed", "--owner-email", "r@red.test"}, "", "the organisation name may not contain control characters"},
			{[]string{"org", "create", "--name", "Ac\u200bme", "--owner-email", "r@red.test"}, "", "the organisation name may not contain invisible characters (U+200B)"},
			{[]string{"org", "set-plan", org, "gold"}, "", "unknown plan"},
			{[]string{"org", "set-plan", org, "\x00"}, "", "unknown plan"},
			{[]string{"org", "set-plan", org}, "", "usage: snapglyph org set-plan"},
			{[]string{"org", "set-plan", "org_missing", "max"}, "", "no organisation"},
			{[]string{"org", "set-limits", org, "--api-calls", "-5"}, "", "negative"},
			{[]string{"org", "set-limits", org, "--image-credits", "lots"}, "", "whole number"},
			{[]string{"org", "set-limits", org, "--api-calls", "99999999999999999999"}, "", "whole number"},
			{[]string{"org", "set-limits", org}, "", "give --api-calls, --image-credits or both"},
			{[]string{"org", "set-limits", "org_missing", "--api-calls", "5"}, "", "no organisation"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "nope"}, "", "not an email"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "--plan", "free"}, "", "unknown plan"},
			{[]string{"org", "create", "--name", "X\xff", "--owner-email", "a@b.test"}, "", "not valid UTF-8"},
			{[]string{"org", "create", "--name", "X\x00", "--owner-email", "a@b.test"}, "", "NUL"},
			{[]string{"org", "create", "--name", huge, "--owner-email", "a@b.test"}, "", "1 to 100 characters"},
			{[]string{"org", "create", "--name", "  ", "--owner-email", "a@b.test"}, "", "1 to 100 characters"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a\x00@b.test"}, "", "NUL"},
			{[]string{"org", "create", "--name", "X", "--owner-email", huge + "@b.test"}, "", "bytes in all)"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "--password-stdin"}, "", "no password on standard input"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "--password-stdin"}, "\n", "the first line of standard input is empty"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "--password-stdin"}, "short\n", "at least 10 characters"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "--password-stdin"}, huge + huge, "a password has at most 1024 bytes"},
			{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "surplus"}, "", "usage: snapglyph org create"},
			{[]string{"frobnicate"}, "", "unknown command"},
		}
		before := counts(t, db)
		for _, tt := range tests {
			name := strings.Join(tt.args, " ")
			t.Run(name[:min(len(name), 60)], func(t *testing.T) {
				stdout, stderr := cliWith(t, map[string]string{"SNAPGLYPH_DB": db.DSN}, tt.stdin, 1, tt.args...)
				if !strings.Contains(stderr, tt.want) || stdout != "" {
					t.Errorf("stderr %.300q does not say %q, or stdout %.100q is not empty", stderr, tt.want, stdout)
				}
				if len(stderr) > 600 && !strings.Contains(stderr, "Usage of") {
					t.Errorf("the message is %d bytes long", len(stderr))
				}
				if after := counts(t, db); !mapsEqual(before, after) {
					t.Errorf("the refused command changed the database: %v, then %v", before, after)
					before = after
				}
			})
		}
		o, err := db.Org(context.Background(), org)
		if err != nil || o.Plan != "pro" || o.APICallsLimit != nil || o.ImageCreditsLimit != nil {
			t.Errorf("organisation changed: %+v %v", o, err)
		}
		k, err := db.Key(context.Background(), kid)
		if err != nil || k.Status != snapglyph.KeyActive {
			t.Errorf("key changed: %+v %v", k, err)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMigrate: migrate creates the schema of a new database (every
// migration of the dialect recorded once), says so, and is a no-op the
// second time.
func TestMigrate(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			fresh := testdb.Fresh(t, dialect)
			files, err := filepath.Glob(filepath.Join("..", "..", "internal", "store", "migrations", dialect, "*.sql"))
			if err != nil || len(files) < 8 {
				t.Fatalf("migration files %v %v", files, err)
			}
			var want []string
			for _, f := range files {
				want = append(want, "migrations/"+dialect+"/"+filepath.Base(f))
			}
			driver, dsn := "sqlite", fresh.Path
			if dialect == "postgres" {
				driver, dsn = "pgx", fresh.DSN
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for range 2 {
				if out, errOut := cli(t, fresh.DSN, 0, "migrate"); out != "database is up to date\n" || errOut != "" {
					t.Fatalf("migrate printed %q, %q", out, errOut)
				}
				var got []string // as the store names them
				rows, err := db.Query(`SELECT name FROM schema_migrations ORDER BY name`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var n string
					rows.Scan(&n)
					got = append(got, n)
				}
				rows.Close()
				if !slices.Equal(got, want) {
					t.Fatalf("schema_migrations holds %v, want %v", got, want)
				}
			}
		})
	}
}

// TestDBSetting: --db wins over SNAPGLYPH_DB, which wins over the default
// ./snapglyph.db (in the working directory).
func TestDBSetting(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if out, _ := cliWith(t, nil, "", 0, "migrate"); out != "database is up to date\n" {
		t.Fatalf("migrate: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapglyph.db")); err != nil {
		t.Fatalf("the default database: %v", err)
	}
	fromEnv, fromFlag := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
	cliWith(t, map[string]string{"SNAPGLYPH_DB": fromEnv}, "", 0, "migrate")
	if _, err := os.Stat(fromEnv); err != nil {
		t.Fatalf("SNAPGLYPH_DB: %v", err)
	}
	// The variable names a directory (no database can be opened there):
	// the flag wins.
	cliWith(t, map[string]string{"SNAPGLYPH_DB": dir}, "", 0, "migrate", "--db", fromFlag)
	if _, err := os.Stat(fromFlag); err != nil {
		t.Fatalf("--db: %v", err)
	}
}

// TestOrgCreate: what org create prints, by plan, in text and JSON,
// compared with what the database holds and with the plans' allowances
// of the product's pricing page (trial and pro 1,000 calls and 200
// credits, max 10,000 and 2,000, starter no API).
func TestOrgCreate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, errOut := cli(t, db.DSN, 0, "org", "create", "--name", " Acme GmbH ", "--owner-email", "Owner@Acme.test", "--plan", "PRO")
		rest, _ := strings.CutPrefix(out, "created organisation ")
		id, _, _ := strings.Cut(rest, " ")
		if out != "created organisation "+id+" (Acme GmbH, plan pro), Owner owner@acme.test\n" || errOut != "" || !strings.HasPrefix(id, "org_") {
			t.Fatalf("org create printed %q, %q", out, errOut)
		}
		if o, err := db.Org(ctx, id); err != nil || o.Name != "Acme GmbH" || o.Plan != snapglyph.PlanPro {
			t.Fatalf("stored %+v, %v", o, err)
		}

		allowances := map[string][2]float64{"starter": {0, 0}, "trial": {1000, 200}, "pro": {1000, 200}, "max": {10000, 2000}}
		for _, plan := range []string{"starter", "trial", "pro", "max", ""} {
			t.Run("plan "+plan, func(t *testing.T) {
				email := "owner-" + plan + "@acme.test"
				args := []string{"org", "create", "--name", "Acme " + plan, "--owner-email", email, "--json"}
				if plan != "" {
					args = append(args, "--plan", plan)
				}
				began := time.Now().Truncate(time.Second)
				out, _ := cli(t, db.DSN, 0, args...)
				ended := time.Now()
				v := decode(t, out)
				want := plan
				if plan == "" {
					want = "trial" // the default
				}
				o, err := db.Org(ctx, v["id"].(string))
				if err != nil {
					t.Fatal(err)
				}
				owner := v["owner"].(map[string]any)
				u, _, err := db.UserByEmail(ctx, email)
				if err != nil {
					t.Fatal(err)
				}
				if v["plan"] != want || string(o.Plan) != want || v["name"] != o.Name || owner["email"] != email || owner["id"] != u.ID ||
					v["apiCallsLimit"] != allowances[want][0] || v["imageCreditsLimit"] != allowances[want][1] {
					t.Errorf("printed %v; stored %+v, owner %s", v, o, u.ID)
				}
				// The database keeps milliseconds; org create prints the
				// times it stored, as a later read gives them.
				created, err := time.Parse(time.RFC3339Nano, v["createdAt"].(string))
				if err != nil || !created.Equal(o.CreatedAt) || created.Before(began) || created.After(ended) {
					t.Errorf("createdAt %v (%v), stored %v, the command ran from %v to %v", v["createdAt"], err, o.CreatedAt, began, ended)
				}
				ends, hasEnd := v["trialEndsAt"].(string)
				if want != "trial" {
					if hasEnd || !o.TrialEndsAt.IsZero() {
						t.Errorf("a %s plan with a trial end: %v %v", want, ends, o.TrialEndsAt)
					}
					return
				}
				end, err := time.Parse(time.RFC3339Nano, ends)
				if err != nil || !end.Equal(o.TrialEndsAt) || end.Before(began.Add(14*24*time.Hour)) || end.After(ended.Add(14*24*time.Hour)) {
					t.Errorf("trialEndsAt %q (%v), stored %v: not 14 days after the command", ends, err, o.TrialEndsAt)
				}
			})
		}
		// Every organisation created above, and nothing more.
		if got := counts(t, db); got["orgs"] != 6 || got["users"] != 6 || got["memberships"] != 6 {
			t.Errorf("rows after six org creates: %v", got)
		}
	})
}

// TestPasswordFromStdin: --password-stdin takes the first line of standard
// input (without its line ending, CRLF too) as the Owner's dashboard
// password, stored only as an argon2id hash; without the flag standard
// input is not read and the Owner has no password.
func TestPasswordFromStdin(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	env := map[string]string{"SNAPGLYPH_DB": db.DSN}
	for _, tt := range []struct{ email, stdin, password string }{
		// Each hash costs 64 MiB and, under -race, seconds: few cases.
		{"lf@acme.test", "a long enough secret\nsecond line\n", "a long enough secret"},
		{"crlf@acme.test", "  spaces count too  \r\n", "  spaces count too  "},
		{"eof@acme.test", "no line ending at all", "no line ending at all"},
	} {
		cliWith(t, env, tt.stdin, 0, "org", "create", "--name", "Acme", "--owner-email", tt.email, "--password-stdin")
		_, hash, err := db.UserByEmail(context.Background(), tt.email)
		if err != nil || !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "secret") || !service.CheckPassword(hash, tt.password) {
			t.Errorf("%s: stored %q, %v", tt.email, hash, err)
		}
	}
	cliWith(t, env, "a long enough secret\n", 0, "org", "create", "--name", "Acme", "--owner-email", "none@acme.test")
	if _, hash, err := db.UserByEmail(context.Background(), "none@acme.test"); err != nil || hash != "" {
		t.Errorf("without --password-stdin: stored %q, %v", hash, err)
	}
}

// TestOrgSetPlanAndLimits: what set-plan and set-limits print and store;
// flags may come before or after the organisation's id.
func TestOrgSetPlanAndLimits(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--json")
		org := decode(t, out)["id"].(string)
		stored := func() *snapglyph.Org {
			t.Helper()
			o, err := db.Org(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}

		if out, errOut := cli(t, db.DSN, 0, "org", "set-plan", org, " MAX "); out != "organisation "+org+" is now on the max plan\n" || errOut != "" {
			t.Errorf("set-plan printed %q, %q", out, errOut)
		}
		if o := stored(); o.Plan != snapglyph.PlanMax {
			t.Errorf("plan %q after set-plan MAX", o.Plan)
		}
		out, _ = cli(t, db.DSN, 0, "org", "set-plan", "--json", org, "pro")
		if v := decode(t, out); v["id"] != org || v["plan"] != "pro" || len(v["unconfirmedNodes"].([]any)) != 0 || v["apiCallsLimit"] != 1000.0 ||
			len(v["operatorLimits"].(map[string]any)) != 0 || v["warning"] != nil || len(v) != 6 {
			t.Errorf("set-plan --json printed %s", out)
		}
		if o := stored(); o.Plan != snapglyph.PlanPro || o.APICallLimit() != 1000 {
			t.Errorf("after set-plan pro: %+v", o)
		}

		if out, _ := cli(t, db.DSN, 0, "org", "set-limits", org, "--api-calls", "5", "--image-credits", "7"); out != "limits of organisation "+org+": 5 API calls (set by the operator), 7 image credits (set by the operator) a month\n" {
			t.Errorf("set-limits printed %q", out)
		}
		if o := stored(); o.APICallLimit() != 5 || o.ImageCreditLimit() != 7 {
			t.Errorf("limits %d, %d after set-limits 5, 7", o.APICallLimit(), o.ImageCreditLimit())
		}
		out, _ = cli(t, db.DSN, 0, "org", "set-limits", "--image-credits", "0", "--json", org)
		if v := decode(t, out); v["id"] != org || len(v["unconfirmedNodes"].([]any)) != 0 || v["apiCallsLimit"] != 5.0 || v["imageCreditsLimit"] != 0.0 || len(v) != 6 {
			t.Errorf("set-limits --json printed %s", out)
		}
		if o := stored(); o.APICallLimit() != 5 || o.ImageCreditLimit() != 0 {
			t.Errorf("limits %d, %d after set-limits --image-credits 0 (calls untouched)", o.APICallLimit(), o.ImageCreditLimit())
		}
		// A plan change keeps the operator's limits.
		cli(t, db.DSN, 0, "org", "set-plan", org, "max")
		if o := stored(); o.APICallLimit() != 5 || o.ImageCreditLimit() != 0 {
			t.Errorf("limits %d, %d after set-plan max", o.APICallLimit(), o.ImageCreditLimit())
		}
	})
}

// TestKeyCommands: key create, list, pause, resume and revoke as the
// operator reads them, in text and JSON, compared with the keys the test
// made and what the database holds.
func TestKeyCommands(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--json")
		org := decode(t, out)["id"].(string)

		// Text: the key first, alone on its line, then the warning.
		out, errOut := cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Production-WebApp")
		lines := strings.Split(out, "\n")
		if len(lines) != 5 || !fullKey.MatchString(lines[0]) || len(lines[0]) != 40 || lines[1] != "" ||
			!strings.HasPrefix(lines[2], "This is the only time the key is shown") || !strings.HasPrefix(lines[3], "id key_") ||
			!strings.HasSuffix(lines[3], ", name Production-WebApp") || errOut != "" {
			t.Fatalf("key create printed %d lines, stderr %q", len(lines), errOut)
		}
		keyA := lines[0]
		idA := strings.TrimSuffix(strings.TrimPrefix(lines[3], "id "), ", name Production-WebApp")

		// JSON: every field, checked with the database.
		out, errOut = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Zapier-Integration", "--json")
		b := decode(t, out)
		keyB, idB := b["key"].(string), b["id"].(string)
		stB, err := db.KeyByDigest(ctx, snapglyph.DigestKey(keyB)) // the key printed is the key stored
		if err != nil {
			t.Fatal(err)
		}
		if !fullKey.MatchString(keyB) || b["prefix"] != keyB[:12] || b["prefix"] != stB.Prefix || b["orgId"] != org || b["name"] != "Zapier-Integration" ||
			b["status"] != "active" || b["createdBy"] != "operator" || b["lastUsedAt"] != nil || b["hint"] != nil || errOut != "" || stB.ID != idB {
			delete(b, "key")
			t.Fatalf("key create --json printed %v (stored %+v), stderr %q", b, stB, errOut)
		}

		// A generic name gets a hint: on stderr in text, in the JSON.
		_, errOut = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "test")
		if !strings.HasPrefix(errOut, "hint: \"test\" does not say where the key is used") {
			t.Errorf("no hint for the name test: %q", errOut)
		}
		out, _ = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "key 1", "--json")
		c := decode(t, out)
		idC := c["id"].(string)
		if h, _ := c["hint"].(string); !strings.HasPrefix(h, "\"key 1\" does not say where") {
			t.Errorf("no hint for the name key 1: %v", c["hint"])
		}

		// Pause, resume, revoke.
		prefixA := keyA[:12]
		for _, step := range []struct{ verb, id, want string }{
			{"pause", idA, "key " + idA + " (Production-WebApp, " + prefixA + "...) is now paused (by operator (CLI))\n"},
			{"resume", idA, "key " + idA + " (Production-WebApp, " + prefixA + "...) is now active\n"},
			{"pause", idA, "key " + idA + " (Production-WebApp, " + prefixA + "...) is now paused (by operator (CLI))\n"},
		} {
			if out, errOut := cli(t, db.DSN, 0, "key", step.verb, step.id); out != step.want || errOut != "" {
				t.Errorf("key %s printed %q, %q", step.verb, out, errOut)
			}
		}
		out, _ = cli(t, db.DSN, 0, "key", "revoke", idC, "--json")
		if v := decode(t, out); v["id"] != idC || v["status"] != "revoked" || v["revokedAt"] == nil || v["key"] != nil || len(v["unconfirmedNodes"].([]any)) != 0 {
			t.Errorf("key revoke --json printed %s", out)
		}

		// Four keys were made (A paused, B active, a hint key active, C
		// revoked): the list says so, in both forms.
		want := map[string]string{idA: "Paused (by operator (CLI))", idB: "Active", idC: "Revoked"}
		for _, all := range []bool{false, true} {
			args := []string{"key", "list", "--org", org}
			if all {
				args = append(args, "--all")
			}
			out, _ := cli(t, db.DSN, 0, args...)
			rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			// Columns are aligned: each starts where its heading does
			// (names may hold spaces).
			heads := []string{"ID", "NAME", "PREFIX", "CREATED", "LAST USED", "STATUS", "EXPIRES", "ACCESS"}
			var at []int
			for _, h := range heads {
				at = append(at, strings.Index(rows[0], h))
			}
			if !slices.IsSorted(at) || at[0] != 0 || strings.TrimSpace(rows[0][at[7]:]) != "ACCESS" {
				t.Fatalf("header %q", rows[0])
			}
			seen := map[string]string{}
			for _, row := range rows[1:] {
				var f []string
				for i := range at {
					end := len(row)
					if i+1 < len(at) {
						end = at[i+1]
					}
					f = append(f, strings.TrimSpace(row[at[i]:min(end, len(row))]))
				}
				if !strings.HasPrefix(f[2], "qr_live_") || len(f[2]) != 15 || !strings.HasSuffix(f[2], "...") || f[4] != "Never" {
					t.Errorf("row %q", row)
					continue
				}
				if _, err := time.Parse(time.RFC3339, f[3]); err != nil {
					t.Errorf("created %q: %v", f[3], err)
				}
				if f[6] != "Never" || f[7] != "Full access" {
					t.Errorf("expires %q, access %q: want Never and Full access", f[6], f[7])
				}
				seen[f[0]] = f[5]
			}
			wantRows := 3 // A, B and the hint key
			if all {
				wantRows = 4
			}
			if len(seen) != wantRows || len(rows) != wantRows+1 || seen[idA] != want[idA] || seen[idB] != want[idB] || (all && seen[idC] != "Revoked") || (!all && seen[idC] != "") {
				t.Errorf("key list (all %v):\n%s", all, out)
			}
			if fullKey.MatchString(out) {
				t.Error("key list prints a full key")
			}

			out, _ = cli(t, db.DSN, 0, append(args, "--json")...)
			jsonRows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			statuses := map[string]string{}
			for _, line := range jsonRows {
				v := decode(t, line)
				if _, ok := v["key"]; ok || v["orgId"] != org {
					t.Errorf("key list --json row %s", line)
				}
				statuses[v["id"].(string)] = v["status"].(string)
			}
			if len(jsonRows) != wantRows || len(statuses) != wantRows || statuses[idA] != "paused" || statuses[idB] != "active" || (all && statuses[idC] != "revoked") {
				t.Errorf("key list --json (all %v):\n%s", all, out)
			}
		}
		var stored int
		db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE org_id = `+placeholder(db)+``, org).Scan(&stored)
		if stored != 4 {
			t.Errorf("%d keys stored, 4 made", stored)
		}
		// An organisation without keys lists only the header; in JSON,
		// nothing.
		out, _ = cli(t, db.DSN, 0, "org", "create", "--name", "Empty", "--owner-email", "e@acme.test", "--json")
		empty := decode(t, out)["id"].(string)
		if out, _ := cli(t, db.DSN, 0, "key", "list", "--org", empty); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "ID") {
			t.Errorf("key list of no keys: %q", out)
		}
		if out, _ := cli(t, db.DSN, 0, "key", "list", "--org", empty, "--json", "--all"); out != "" {
			t.Errorf("key list --json of no keys: %q", out)
		}
	})
}

// placeholder is the first query parameter of the database's dialect.
func placeholder(db *testdb.DB) string {
	if db.Dialect == "postgres" {
		return "$1"
	}
	return "?"
}
