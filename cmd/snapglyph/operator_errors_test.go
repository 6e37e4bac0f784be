package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestCommandsNeedTheDatabase: a command that reads or changes what the
// service holds refuses a SQLite file that does not exist instead of
// making an empty one — "key revoke" on a mistyped --db answered "no API
// key has the id …" while the key stayed live. org create, the first
// command on a new machine, makes the file and says so. A PostgreSQL
// keyword=value string is refused without its password anywhere.
func TestCommandsNeedTheDatabase(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{
		{"key", "revoke", "key_bJaB7lGp3UvIPiBB1iK5"},
		{"org", "list"},
		{"logs", "--org", "org_x"},
		{"webhook", "list", "--org", "org_x"},
		{"user", "set-password", "a@b.test", "--password-stdin"},
	} {
		status, stdout, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": typo}, "A-long-password-42\n", args...)
		if status != 1 || stdout != "" || !strings.Contains(stderr, `no database at "`+typo+`" (no such file)`) || !strings.Contains(stderr, "snapglyph migrate --db") {
			t.Errorf("%q on a missing file: exit %d, %q, %q", args, status, stdout, stderr)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Fatalf("%q made %s", args, typo)
		}
	}

	status, _, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": typo}, "", "org", "create", "--name", "Acme", "--owner-email", "o@acme.test")
	if status != 0 || !strings.Contains(stderr, `made a new database at "`+typo+`"`) {
		t.Errorf("org create on a new file: exit %d, %q", status, stderr)
	}
	if out, _ := cli(t, typo, 0, "org", "list", "--json"); !strings.Contains(out, `"name":"Acme"`) {
		t.Errorf("org list after org create: %q", out)
	}
	// The file exists now: no second notice.
	if _, stderr := cli(t, typo, 0, "org", "create", "--name", "Beta", "--owner-email", "b@beta.test"); strings.Contains(stderr, "made a new database") {
		t.Errorf("a second org create says %q", stderr)
	}

	wd, _ := os.Getwd()
	t.Chdir(dir)
	defer os.Chdir(wd)
	keyword := "host=127.0.0.1 user=postgres password=s3cretpw dbname=nodb"
	for _, args := range [][]string{{"org", "list"}, {"org", "create", "--name", "X", "--owner-email", "x@x.test"}, {"migrate"}} {
		status, _, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": keyword}, "", args...)
		if status != 1 || !strings.Contains(stderr, "keyword=value connection string; give PostgreSQL as a URL") || strings.Contains(stderr, "s3cretpw") {
			t.Errorf("%q with %q: exit %d, %q", args, keyword, status, stderr)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "typo.db") { // and its -wal, -shm
			t.Errorf("the directory holds %q", e.Name())
		}
	}
}

// TestCommandsNeedTheirFlags: a required flag left out or given empty is
// named, not reported as the value it stands for ("no organisation has the
// id \"\"", "\"\" is not an email address").
func TestCommandsNeedTheirFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	cli(t, db, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"org", "create", "--name", "Beta"}, "--owner-email is required: usage: snapglyph org create"},
		{[]string{"org", "create", "--name", "Beta", "--owner-email", ""}, "--owner-email is required"},
		{[]string{"key", "create", "--name", "X"}, "--org is required: usage: snapglyph key create"},
		{[]string{"key", "list", "--org", ""}, "--org is required: usage: snapglyph key list"},
		{[]string{"webhook", "create", "--url", "https://example.com/h", "--events", "key.revoked"}, "--org is required: usage: snapglyph webhook create"},
		{[]string{"webhook", "list"}, "--org is required: usage: snapglyph webhook list"},
	} {
		status, stdout, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": db}, "", tt.args...)
		if status != 1 || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, %q, %q; want %q", tt.args, status, stdout, stderr, tt.want)
		}
	}
}

// TestCommandsNeedTheSchema is TestCommandsNeedTheDatabase on
// PostgreSQL: a URL whose search_path names an empty schema (or none,
// which puts tables in public) is refused by the commands that read or
// change what the service holds, and nothing is made in it; a schema
// that does not exist is named; org create makes the tables and says so.
func TestCommandsNeedTheSchema(t *testing.T) {
	d := testdb.Fresh(t, "postgres")
	schema := d.DSN[strings.LastIndex(d.DSN, "search_path=")+len("search_path="):]
	for _, args := range [][]string{
		{"key", "revoke", "key_bJaB7lGp3UvIPiBB1iK5"},
		{"org", "list"},
		{"logs", "--org", "org_x"},
	} {
		status, stdout, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": d.DSN}, "", args...)
		if status != 1 || stdout != "" || !strings.Contains(stderr, `no SnapGlyph database in PostgreSQL schema "`+schema+`"`) || !strings.Contains(stderr, "snapglyph migrate --db URL") {
			t.Errorf("%q on an empty schema: exit %d, %q, %q", args, status, stdout, stderr)
		}
	}
	missing := strings.Replace(d.DSN, "search_path="+schema, "search_path="+schema+"_none", 1)
	for _, args := range [][]string{{"org", "list"}, {"migrate"}, {"org", "create", "--name", "X", "--owner-email", "x@x.test"}} {
		status, _, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": missing}, "", args...)
		if status != 1 || !strings.Contains(stderr, `no schema of search_path "`+schema+`_none" exists`) {
			t.Errorf("%q on a schema that does not exist: exit %d, %q", args, status, stderr)
		}
	}
	admin, err := sql.Open("pgx", os.Getenv(testdb.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var tables int
	if err := admin.QueryRow(`SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("the refused commands made %d tables (%v)", tables, err)
	}

	status, _, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": d.DSN}, "", "org", "create", "--name", "Acme", "--owner-email", "o@acme.test")
	if status != 0 || !strings.Contains(stderr, `made a new database in PostgreSQL schema "`+schema+`"`) {
		t.Errorf("org create on an empty schema: exit %d, %q", status, stderr)
	}
	if out, _ := cli(t, d.DSN, 0, "org", "list", "--json"); !strings.Contains(out, `"name":"Acme"`) {
		t.Errorf("org list after org create: %q", out)
	}
	if _, stderr := cli(t, d.DSN, 0, "org", "create", "--name", "Beta", "--owner-email", "b@beta.test"); strings.Contains(stderr, "made a new database") {
		t.Errorf("a second org create says %q", stderr)
	}
}

// TestOperatorErrors: what the CLI says when a command fails is one line,
// with no API key in it whatever argument the key was pasted into, and no
// raw control character; a repeated flag is refused; "help CMD" is
// CMD's help; the request log's errors name the flag; and a change's JSON
// gives the times a later read gives.
func TestOperatorErrors(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--json")
	org := decode(t, out)["id"].(string)
	out, _ = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Prod", "--json")
	created := decode(t, out)
	key, keyID := created["key"].(string), created["id"].(string)
	env := map[string]string{"SNAPGLYPH_DB": db.DSN}

	for _, args := range [][]string{
		{"org", "set-plan", org, key},
		{"org", "set-limits", org, "--api-calls", key},
		{"key", "roll", keyID, "--overlap", key},
		{"key", "pause", keyID, "--until", key},
		{"logs", "--org", org, "--since", key},
		{key},
		{"key", key},
		{"key", "show", "--" + key},
	} {
		status, _, stderr := runCLI(env, "", args...)
		if status != 1 || strings.Count(stderr, "\n") != 1 || fullKey.MatchString(stderr) || !strings.Contains(stderr, key[:len(snapglyph.KeyPrefix)+4]) {
			t.Errorf("%s: exit %d, %q: want one line with the key cut to its prefix", strings.ReplaceAll(strings.Join(args, " "), key, "KEY"), status, fullKey.ReplaceAllString(stderr, "qr_live_…"))
		}
	}

	status, _, stderr := runCLI(env, "", "org", "list", "--\x1b[2J")
	if status != 1 || strings.ContainsRune(stderr, 0x1b) || !strings.Contains(stderr, `-\x1b[2J`) {
		t.Errorf("an unknown flag with an escape sequence: exit %d, %q", status, stderr)
	}
	if got := oneLine("failed to connect to `host=localhost`:\n\t[::1]:1 (localhost): dial error\n\t127.0.0.1:1 (localhost): dial error"); got != "failed to connect to `host=localhost`:; [::1]:1 (localhost): dial error; 127.0.0.1:1 (localhost): dial error" {
		t.Errorf("oneLine: %q", got)
	}
	if got := oneLine("bad \xff byte, tab\there, real \ufffd"); got != `bad \xff byte, tab\there, real `+"\ufffd" {
		t.Errorf("oneLine: %q", got)
	}

	for _, args := range [][]string{
		{"key", "create", "--org", org, "--name", "A", "--name", "B"},
		{"key", "list", "--org", org, "--org=" + org},
		{"logs", "--org", org, "--json", "--json"},
	} {
		status, stdout, stderr := runCLI(env, "", args...)
		if status != 1 || stdout != "" || !strings.Contains(stderr, "is given twice; give it once") {
			t.Errorf("%q: exit %d, %q, %q", args, status, stdout, stderr)
		}
	}
	if out, _ := cli(t, db.DSN, 0, "key", "list", "--org", org, "--json"); strings.Count(out, "\n") != 1 {
		t.Errorf("a refused repeated --name made a key: %q", fullKey.ReplaceAllString(out, "qr_live_…"))
	}

	status, _, stderr = runCLI(env, "", "help", "key", "create")
	if status != 0 || !strings.Contains(stderr, "Usage of key create:") || !strings.Contains(stderr, "-expires-in") {
		t.Errorf("help key create: exit %d, %q", status, stderr)
	}
	if status, _, stderr := runCLI(env, "", "version", "extra"); status != 1 || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("version extra: exit %d, %q", status, stderr)
	}

	for flag, want := range map[string]string{"--since": `--since: from "abc" is not a time`, "--until": `--until: to "abc" is not a time`, "--key": "--key: key is not valid UTF-8"} {
		value := "abc"
		if flag == "--key" {
			value = "\xff"
		}
		if status, _, stderr := runCLI(env, "", "logs", "--org", org, flag, value); status != 1 || !strings.Contains(stderr, want) {
			t.Errorf("logs %s %q: exit %d, %q, want %q", flag, value, status, stderr, want)
		}
	}

	// The times a change prints are those a read gives (they were printed
	// to the nanosecond, and read back to the millisecond).
	out, _ = cli(t, db.DSN, 0, "key", "pause", keyID, "--json")
	paused := decode(t, out)
	out, _ = cli(t, db.DSN, 0, "key", "show", keyID, "--json")
	shown := decode(t, out)
	if created["createdAt"] != shown["createdAt"] || paused["paused"].(map[string]any)["at"] != shown["paused"].(map[string]any)["at"] {
		t.Errorf("create said %v, pause %v; show says %v and %v", created["createdAt"], paused["paused"], shown["createdAt"], shown["paused"])
	}
}
