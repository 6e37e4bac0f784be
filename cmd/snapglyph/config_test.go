package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestBadVariableRefused: a bad value in any variable of serve is refused
// like a bad flag, naming the variable and the value, before anything is
// opened or created.
func TestBadVariableRefused(t *testing.T) {
	huge := "\xff\x00" + strings.Repeat("9", 100000)
	tests := []struct {
		variable, value, want string
	}{
		{"SNAPGLYPH_FLUSH_INTERVAL", "abc", `SNAPGLYPH_FLUSH_INTERVAL="abc": invalid duration`},
		{"SNAPGLYPH_FLUSH_INTERVAL", "10", `SNAPGLYPH_FLUSH_INTERVAL="10": invalid duration`},
		{"SNAPGLYPH_FLUSH_INTERVAL", "-1s", `SNAPGLYPH_FLUSH_INTERVAL="-1s": must be positive`},
		{"SNAPGLYPH_CACHE_SIZE", "lots", `SNAPGLYPH_CACHE_SIZE="lots": not a whole number`},
		{"SNAPGLYPH_CACHE_SIZE", "0", `SNAPGLYPH_CACHE_SIZE="0": must be positive`},
		{"SNAPGLYPH_CACHE_SIZE", "99999999999999999999", `SNAPGLYPH_CACHE_SIZE="99999999999999999999": out of range`},
		{"SNAPGLYPH_CACHE_SIZE", huge, `SNAPGLYPH_CACHE_SIZE="\xff\x00999`},
		{"SNAPGLYPH_LEASE_BLOCK", "1e3", `SNAPGLYPH_LEASE_BLOCK="1e3": not a whole number`},
		{"SNAPGLYPH_LEASE_BLOCK", "-5", `SNAPGLYPH_LEASE_BLOCK="-5": must be positive`},
		{"SNAPGLYPH_LOG_REQUESTS", "yes", `SNAPGLYPH_LOG_REQUESTS="yes": not a boolean`},
		{"SNAPGLYPH_LOG_REQUESTS", "on", `SNAPGLYPH_LOG_REQUESTS="on": not a boolean`},
		{"SNAPGLYPH_LOG_FORMAT", "xml", `SNAPGLYPH_LOG_FORMAT="xml": must be text or json`},
		{"SNAPGLYPH_SIGNUP", "maybe", `SNAPGLYPH_SIGNUP="maybe": must be open or closed`},
		{"SNAPGLYPH_PLAN_CHANGES", "auto", `SNAPGLYPH_PLAN_CHANGES="auto": must be operator or self-serve`},
		{"SNAPGLYPH_PUBLIC_URL", "ftp://qr.example.com", `SNAPGLYPH_PUBLIC_URL="ftp://qr.example.com": must be an http or https URL`},
		{"SNAPGLYPH_TRUSTED_PROXIES", "not-an-address", `SNAPGLYPH_TRUSTED_PROXIES="not-an-address": `},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value[:min(len(tt.value), 20)], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snapglyph.db")
			env := map[string]string{"SNAPGLYPH_DB": path, tt.variable: tt.value}
			var stdout, stderr testdb.Buffer
			err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, mapEnv(env), strings.NewReader(""), &stdout, &stderr)
			if err == nil {
				t.Fatal("serve started")
			}
			msg := errorText(err)
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.HasPrefix(msg, tt.want) {
				t.Errorf("error %q (%s), want it to start with %q", msg, snapglyph.ErrorKind(err), tt.want)
			}
			if len(msg) > 300 {
				t.Errorf("the message is %d bytes long", len(msg))
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the refused command created the database: %v", err)
			}
			// The same value as a flag is refused too.
			flagName := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tt.variable, "SNAPGLYPH_")), "_", "-")
			err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", flagName + "=" + tt.value}, mapEnv(map[string]string{"SNAPGLYPH_DB": path}), strings.NewReader(""), &stdout, &stderr)
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID {
				t.Errorf("%s=%.20q: %v, want it refused", flagName, tt.value, err)
			}
		})
	}
}

// TestBadVariableRefusedWhenOverridden: a bad variable is refused even
// when the command line gives the flag, so a broken setting never lingers
// unnoticed: a value of the wrong type, and one of the right type that
// serve would refuse (operator review: those were ignored).
func TestBadVariableRefusedWhenOverridden(t *testing.T) {
	for _, tt := range []struct{ variable, value, flag, want string }{
		{"SNAPGLYPH_CACHE_SIZE", "lots", "--cache-size=10", `SNAPGLYPH_CACHE_SIZE="lots": not a whole number`},
		{"SNAPGLYPH_FLUSH_INTERVAL", "0", "--flush-interval=1s", `SNAPGLYPH_FLUSH_INTERVAL="0": must be positive`},
		{"SNAPGLYPH_AUTH_FAILURE_LIMIT", "-1", "--auth-failure-limit=0", `SNAPGLYPH_AUTH_FAILURE_LIMIT="-1": must be 0 (no limit) or positive`},
		{"SNAPGLYPH_SIGNUP", "maybe", "--signup=open", `SNAPGLYPH_SIGNUP="maybe": must be open or closed`},
		{"SNAPGLYPH_LOG_FORMAT", "xml", "--log-format=text", `SNAPGLYPH_LOG_FORMAT="xml": must be text or json`},
		{"SNAPGLYPH_REQUEST_LOG_RETENTION", "gold=1d", "--request-log-retention=pro=30d", `SNAPGLYPH_REQUEST_LOG_RETENTION="gold=1d": `},
		{"SNAPGLYPH_PUBLIC_URL", "ftp://x", "--public-url=https://a.example", `SNAPGLYPH_PUBLIC_URL="ftp://x": must be an http or https URL`},
		{"SNAPGLYPH_ADDR", "bogus", "--addr=127.0.0.1:0", `SNAPGLYPH_ADDR="bogus": must be host:port`},
		{"SNAPGLYPH_METRICS_ADDR", "bogus", "--metrics-addr=127.0.0.1:0", `SNAPGLYPH_METRICS_ADDR="bogus": must be host:port`},
		{"SNAPGLYPH_TRUSTED_PROXIES", "nowhere", "--trusted-proxies=10.0.0.0/8", `SNAPGLYPH_TRUSTED_PROXIES="nowhere": `},
	} {
		path := filepath.Join(t.TempDir(), "x.db")
		env := map[string]string{"SNAPGLYPH_DB": path, tt.variable: tt.value}
		var out testdb.Buffer
		args := []string{"serve", tt.flag}
		if !strings.HasPrefix(tt.flag, "--addr=") {
			args = append(args, "--addr=127.0.0.1:0")
		}
		err := run(context.Background(), args, mapEnv(env), strings.NewReader(""), &out, &out)
		if !strings.HasPrefix(errorText(err), tt.want) {
			t.Errorf("%s=%s with %s: %v, want %q…", tt.variable, tt.value, tt.flag, err, tt.want)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: the refused command created the database", tt.variable)
		}
	}
	// An address another listener holds: serve fails there, at the
	// listener, once every check has passed.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().String()
	// Values the checks must take, as flags and as variables: zero and
	// positive numbers written as Go reads them, addresses with a name, an
	// IPv6 host or none. Each gets as far as the listener (a port that
	// cannot be).
	for _, tt := range []struct{ variable, value string }{
		{"SNAPGLYPH_AUTH_FAILURE_LIMIT", "00"}, {"SNAPGLYPH_AUTH_FAILURE_LIMIT", "0x0"}, {"SNAPGLYPH_AUTH_FAILURE_LIMIT", "+0"},
		{"SNAPGLYPH_CACHE_SIZE", "0x10"}, {"SNAPGLYPH_CACHE_SIZE", "1_000"}, {"SNAPGLYPH_FLUSH_INTERVAL", "1.5s"},
		{"SNAPGLYPH_METRICS_ADDR", "[::1]:0"}, {"SNAPGLYPH_METRICS_ADDR", "localhost:0"}, {"SNAPGLYPH_METRICS_ADDR", ":http"},
	} {
		for _, asFlag := range []bool{false, true} {
			env := map[string]string{"SNAPGLYPH_DB": filepath.Join(t.TempDir(), "x.db")}
			args := []string{"serve", "--addr=" + taken}
			if asFlag {
				args = append(args, "--"+strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tt.variable, "SNAPGLYPH_")), "_", "-")+"="+tt.value)
			} else {
				env[tt.variable] = tt.value
			}
			var out testdb.Buffer
			err := run(context.Background(), args, mapEnv(env), strings.NewReader(""), &out, &out)
			if !strings.HasPrefix(errorText(err), `--addr="`+taken+`": cannot listen there`) {
				t.Errorf("%s=%s (as a flag: %v): %v, want it taken", tt.variable, tt.value, asFlag, err)
			}
		}
	}

	// Alone, an address variable that cannot be listened on is named.
	var out testdb.Buffer
	err = run(context.Background(), []string{"serve"}, mapEnv(map[string]string{"SNAPGLYPH_DB": filepath.Join(t.TempDir(), "x.db"), "SNAPGLYPH_ADDR": taken}), strings.NewReader(""), &out, &out)
	if !strings.HasPrefix(errorText(err), `SNAPGLYPH_ADDR="`+taken+`": cannot listen there: `) {
		t.Errorf("SNAPGLYPH_ADDR=%s: %v", taken, err)
	}
	// A port out of range is refused before anything is opened.
	path := filepath.Join(t.TempDir(), "x.db")
	err = run(context.Background(), []string{"serve", "--metrics-addr", "127.0.0.1:99999"}, mapEnv(map[string]string{"SNAPGLYPH_DB": path}), strings.NewReader(""), &out, &out)
	if !strings.HasPrefix(errorText(err), `--metrics-addr="127.0.0.1:99999": must be host:port`) {
		t.Errorf("--metrics-addr 127.0.0.1:99999: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the refused command created the database: %v", err)
	}
}

// TestCLIVariables: the CLI commands read SNAPGLYPH_DB, and only it:
// other variables do not leak into their flags.
func TestCLIVariables(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	env := map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_NAME": "from the environment", "SNAPGLYPH_JSON": "lots"}
	var stdout, stderr testdb.Buffer
	err := run(context.Background(), []string{"org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--json"}, mapEnv(env), strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v: %s", err, &stderr)
	}
	var org map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &org); err != nil || org["name"] != "Acme" {
		t.Fatalf("org create printed %q (%v)", &stdout, err)
	}
}

// TestEveryServeFlagHasVariable: the help of serve names a variable for
// every flag.
func TestEveryServeFlagHasVariable(t *testing.T) {
	var out testdb.Buffer
	err := run(context.Background(), []string{"serve", "-h"}, mapEnv(nil), strings.NewReader(""), &out, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	flags := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-") {
			flags++
			name := strings.Fields(strings.TrimSpace(line))[0][1:]
			if !strings.Contains(out.String(), "(env "+envVar(name)+")") {
				t.Errorf("flag %s has no variable in the help", name)
			}
		}
	}
	if flags < 12 {
		t.Errorf("the help lists %d flags:\n%s", flags, &out)
	}
}

// TestLogRequestsVariable: SNAPGLYPH_LOG_REQUESTS takes what
// strconv.ParseBool takes, and the flag wins over it.
func TestLogRequestsVariable(t *testing.T) {
	tests := []struct {
		value string
		args  []string
		want  bool
	}{
		{"1", nil, true},
		{"t", nil, true},
		{"TRUE", nil, true},
		{"false", nil, false},
		{"0", nil, false},
		{"", nil, true}, // the default
		{"0", []string{"--log-requests=true"}, true},
		{"1", []string{"--log-requests=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.value+strings.Join(tt.args, ""), func(t *testing.T) {
			env := map[string]string{
				"SNAPGLYPH_DB": filepath.Join(t.TempDir(), "x.db"), "SNAPGLYPH_LOG_REQUESTS": tt.value,
				"SNAPGLYPH_LOG_FORMAT": "json", "SNAPGLYPH_ADDR": "127.0.0.1:0",
			}
			srv := serveIn(t, env, tt.args...)
			resp, err := http.Get(srv.url + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			srv.stop(t)
			logs := srv.logs.String()
			logged := strings.Contains(logs, `"msg":"request"`)
			if logged != tt.want {
				t.Errorf("request logged: %v, want %v; logs:\n%s", logged, tt.want, logs)
			}
		})
	}
}

// TestErrorText: what the operator reads for each kind of error.
func TestErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{snapglyph.Errorf(snapglyph.ENOTFOUND, "no API key key_x"), "no API key key_x"},
		{errors.New(`store: connect to PostgreSQL: cannot parse "postgres://snap:s3cr3t@db:5432/x": invalid port`), `store: connect to PostgreSQL: cannot parse "postgres://snap:xxxxx@db:5432/x": invalid port`},
		{errors.New(`failed: host=db user=snap password=s3cr3t dbname=x`), `failed: host=db user=snap password=xxxxx dbname=x`},
		{errors.New(`failed: postgres://db/x?user=snap&password=s3cr3t&sslmode=disable`), `failed: postgres://db/x?user=snap&password=xxxxx&sslmode=disable`},
		{errors.New(`store: migration 003_qr_codes.sql failed: relation "qr_codes" already exists`), `store: migration 003_qr_codes.sql failed: relation "qr_codes" already exists`},
		// A huge value quoted back is cut, on a character boundary.
		{snapglyph.Errorf(snapglyph.ENOTFOUND, "no API key has the id %q", strings.Repeat("x", 100000)), `no API key has the id "` + strings.Repeat("x", 477) + `… (100024 bytes in all)`},
		{snapglyph.Errorf(snapglyph.EINVALID, "%s", strings.Repeat("é", 300)), strings.Repeat("é", 250) + `… (600 bytes in all)`},
		{snapglyph.Errorf(snapglyph.EINVALID, "%s", "x"+strings.Repeat("é", 300)), "x" + strings.Repeat("é", 249) + `… (601 bytes in all)`},
		{errors.New(`dial postgres://snap:s3cr3t@db/x: ` + strings.Repeat("y", 1000)), `dial postgres://snap:xxxxx@db/x: ` + strings.Repeat("y", 467) + `… (1033 bytes in all)`},
	}
	for _, tt := range tests {
		if got := errorText(tt.err); got != tt.want {
			t.Errorf("errorText(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestFlagMistakes: a flag written wrongly is refused with one line that
// names it, before anything starts — "--request-log false" used to start
// a node with the request log on, the "false" read as an ignored
// argument — and -h still lists every flag.
func TestFlagMistakes(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--request-log", "false"}, `--request-log takes its value after an equals sign: write --request-log=false`},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--log-requests", "0"}, `write --log-requests=0`},
		{[]string{"serve", "--addr", "127.0.0.1:0", "left-over"}, `unexpected argument "left-over"; usage: snapglyph serve`},
		{[]string{"migrate", "garbage"}, `unexpected argument "garbage"; usage: snapglyph migrate`},
		{[]string{"serve", "--flush-interval", "abc"}, `--flush-interval="abc": invalid duration (examples: 500ms, 1s, 2m)`},
		{[]string{"serve", "-flush-interval=1 s"}, `--flush-interval="1 s": invalid duration`},
		{[]string{"serve", "--log-requests=yes"}, `--log-requests="yes": not a boolean`},
		{[]string{"serve", "--cache-size", "x\xff"}, `--cache-size="x\xff": not a whole number`},
		{[]string{"serve", "--nope"}, `flag provided but not defined: -nope (snapglyph serve --help lists the flags)`},
		{[]string{"key", "list", "--org", "org_x", "--limit", "ten"}, `flag provided but not defined: -limit`},
		{[]string{"org", "list", "garbage"}, `unexpected argument "garbage"; usage: snapglyph org list`},
	}
	for _, tc := range tests {
		status, stdout, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": db.DSN}, "", tc.args...)
		if status != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("snapglyph %q: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tc.args, status, stdout, stderr, tc.want)
		}
	}
	// Nothing was started or changed: the database has no organisation.
	if out, _ := cli(t, db.DSN, 0, "org", "list", "--json"); strings.TrimSpace(out) != "" {
		t.Errorf("org list after the mistakes: %q", out)
	}
	// A value given with "=" or a boolean alone is fine, and -h lists the flags.
	status, _, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": db.DSN}, "", "serve", "--request-log=false", "--webhook-allow-insecure-local", "-h")
	if status != 0 || !strings.Contains(stderr, "Usage of serve:") || !strings.Contains(stderr, "-request-log-retention") {
		t.Errorf("serve -h: exit %d, %q", status, stderr)
	}
}
