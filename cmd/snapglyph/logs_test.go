package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// runLogs runs "snapglyph logs" in process on the database and returns
// its output, or the error.
func runLogs(t *testing.T, dsn string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"logs"}, args...), mapEnv(map[string]string{"SNAPGLYPH_DB": dsn}), strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// TestLogsCommand: `snapglyph logs` prints an organisation's requests,
// newest first, one JSON object a line with the documented fields; each
// filter takes effect; bad input is refused with a clear message; another
// organisation's requests never show.
func TestLogsCommand(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		orgA, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "a@acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		orgB, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Globex", OwnerEmail: "b@globex.test", Plan: "max"})
		if err != nil {
			t.Fatal(err)
		}
		k1, _ := svc.CreateKey(ctx, snapglyph.Operator, orgA.ID, "Production-WebApp")
		k2, _ := svc.CreateKey(ctx, snapglyph.Operator, orgA.ID, "Zapier-Integration")
		kb, _ := svc.CreateKey(ctx, snapglyph.Operator, orgB.ID, "Globex-Backend")
		now := time.Now().UTC()
		w := reqlog.New(db.DB, slog.New(slog.NewTextHandler(io.Discard, nil)))
		type req struct {
			key    *service.NewKey
			org    *snapglyph.Org
			ago    time.Duration
			status int
			code   string
		}
		reqs := []req{
			{k1, orgA, 3 * time.Hour, 200, ""},
			{k1, orgA, 50 * time.Minute, 404, "not_found"},
			{k2, orgA, 40 * time.Minute, 200, ""},
			{k1, orgA, 30 * time.Minute, 401, "api_key_revoked"},
			{k2, orgA, 20 * time.Minute, 429, "api_call_limit_reached"},
			{kb, orgB, 10 * time.Minute, 200, ""},
		}
		ids := map[string]string{}
		for i, r := range reqs {
			e := snapglyph.RequestLogEntry{At: now.Add(-r.ago), RequestID: fmt.Sprintf("%016x", i+1), OrgID: r.org.ID, KeyID: r.key.ID, KeyPrefix: r.key.Prefix,
				Method: "GET", Route: "/api/v1/usage", Status: r.status, Code: r.code, IP: "192.0.2.1", UserAgent: "acme-sdk/1.0",
				Duration: 2500 * time.Microsecond, Plan: r.org.Plan}
			if r.status < 400 {
				e.Calls = 1
			}
			w.Record(&e)
			ids[e.RequestID] = r.key.ID
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		lines := func(args ...string) []map[string]any {
			t.Helper()
			out, _, err := runLogs(t, db.DSN, append(args, "--json")...)
			if err != nil {
				t.Fatalf("logs %v: %v", args, err)
			}
			var got []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if l == "" {
					continue
				}
				var v map[string]any
				if err := json.Unmarshal([]byte(l), &v); err != nil {
					t.Fatalf("not a JSON line: %q", l)
				}
				got = append(got, v)
			}
			return got
		}
		idsOf := func(got []map[string]any) string {
			var s []string
			for _, v := range got {
				s = append(s, strings.TrimLeft(v["requestId"].(string), "0"))
			}
			return strings.Join(s, ",")
		}
		all := lines("--org", orgA.ID)
		if idsOf(all) != "5,4,3,2,1" {
			t.Fatalf("logs --org A printed requests %s, want 5,4,3,2,1 (newest first, none of B's)", idsOf(all))
		}
		for _, f := range []string{"time", "requestId", "keyId", "method", "route", "status", "code", "ip", "userAgent", "durationMs", "calls", "credits"} {
			if _, ok := all[0][f]; !ok {
				t.Errorf("a line has no %q: %v", f, all[0])
			}
		}
		first := all[4]
		if first["keyId"] != k1.ID || first["status"] != 200.0 || first["durationMs"] != 2.5 || first["calls"] != 1.0 || first["ip"] != "192.0.2.1" {
			t.Errorf("first request printed as %v", first)
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--key", k2.ID}, "5,3"},
			{[]string{"--status", "4xx"}, "5,4,2"},
			{[]string{"--status", "401"}, "4"},
			{[]string{"--code", "not_found"}, "2"},
			{[]string{"--since", "1h"}, "5,4,3,2"},
			{[]string{"--since", "45m", "--until", "25m"}, "4,3"},
			{[]string{"--since", now.Add(-35 * time.Minute).Format(time.RFC3339)}, "5,4"},
			{[]string{"--endpoint", "GET /api/v1/usage", "--ip", "192.0.2.1", "--limit", "2"}, "5,4"},
			{[]string{"--endpoint", "POST /api/v1/qr-codes"}, ""},
			{[]string{"--ip", "198.51.100.1"}, ""},
			{[]string{"--suspicious"}, "4"},
			{[]string{"--limit", "0"}, "5,4,3,2,1"},
		} {
			if got := idsOf(lines(append([]string{"--org", orgA.ID}, tt.args...)...)); got != tt.want {
				t.Errorf("logs %v printed %q, want %q", tt.args, got, tt.want)
			}
		}
		// The table form has a header and one line per request.
		out, _, err := runLogs(t, db.DSN, "--org", orgA.ID, "--key", k1.ID)
		if err != nil {
			t.Fatal(err)
		}
		rows := strings.Split(strings.TrimSpace(out), "\n")
		if len(rows) != 4 || !strings.HasPrefix(rows[0], "TIME") || !strings.Contains(rows[1], "api_key_revoked") {
			t.Errorf("table:\n%s", out)
		}
		// Each column starts under its heading: the key id under KEY.
		for _, row := range rows[1:] {
			if at := strings.Index(rows[0], "KEY"); strings.Index(row, k1.ID) != at {
				t.Errorf("the key id at column %d, its heading at %d:\n%s", strings.Index(row, k1.ID), at, out)
			}
		}
		if _, stderr, _ := runLogs(t, db.DSN, "--org", orgA.ID, "--code", "ip_not_allowed"); !strings.Contains(stderr, "no requests match") {
			t.Errorf("an empty result says %q", stderr)
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{nil, "--org is required"},
			{[]string{"--org", "org_nope"}, `no organisation has the id "org_nope"`},
			{[]string{"--org", orgA.ID, "--key", kb.ID}, fmt.Sprintf("no API key has the id %q in this organisation", kb.ID)},
			{[]string{"--org", orgA.ID, "--key", "key_nope"}, `no API key has the id "key_nope"`},
			{[]string{"--org", orgA.ID, "--status", "99x"}, "neither an HTTP status"},
			{[]string{"--org", orgA.ID, "--status", "600"}, "neither an HTTP status"},
			{[]string{"--org", orgA.ID, "--code", "DROP TABLE"}, "is not an error code"},
			{[]string{"--org", orgA.ID, "--endpoint", "GET /admin"}, "is not an API endpoint"},
			{[]string{"--org", orgA.ID, "--ip", "999.1.1.1"}, "is not an IP address"},
			{[]string{"--org", orgA.ID, "--since", "yesterday"}, "from \"yesterday\" is not a time"},
			{[]string{"--org", orgA.ID, "--since", "400d"}, "keeps entries for at most 90 days"},
			{[]string{"--org", orgA.ID, "--since", "1h", "--until", "2h"}, "the range ends"},
			{[]string{"--org", orgA.ID, "--limit", "-1"}, "--limit must be 0 (all) or positive"},
			{[]string{"--org", orgA.ID, "--key", "key_\xff\x00"}, "key is not valid UTF-8"},
			{[]string{"--org", orgA.ID, "--request-log-retention", "pro=0"}, "the retention of pro must be 1 to 3650 days"},
			{[]string{"--org", orgA.ID, "extra"}, "usage: snapglyph logs"},
			{[]string{"--org", ""}, "--org is required"},
		} {
			_, _, err := runLogs(t, db.DSN, tt.args...)
			if err == nil || !strings.Contains(errorText(err), tt.want) {
				t.Errorf("logs %q: error %v, want %q", tt.args, err, tt.want)
			}
		}
		// A filter given empty is refused, not read as no filter: a
		// script's --key "$KEY_ID" whose variable came out empty must not
		// print every key's requests.
		for _, flag := range []string{"--key", "--status", "--code", "--endpoint", "--ip", "--since", "--until"} {
			out, _, err := runLogs(t, db.DSN, "--org", orgA.ID, flag, "")
			if err == nil || out != "" || !strings.Contains(errorText(err), flag+`="": empty`) {
				t.Errorf("logs %s \"\": %q, error %v", flag, out, err)
			}
		}
		// With a shorter retention, --since goes back less far.
		if _, _, err := runLogs(t, db.DSN, "--org", orgA.ID, "--since", "40d", "--request-log-retention", "max=30d"); err == nil ||
			!strings.Contains(errorText(err), "at most 30 days") {
			t.Errorf("--since 40d with 30 days kept: %v", err)
		}
	})
}

// TestServeRequestLogFlags: serve refuses bad request log settings,
// naming the flag or variable.
func TestServeRequestLogFlags(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"SNAPGLYPH_REQUEST_LOG": "maybe"}, nil, `SNAPGLYPH_REQUEST_LOG="maybe": not a boolean`},
		{map[string]string{"SNAPGLYPH_REQUEST_LOG_BUFFER": "0"}, nil, `SNAPGLYPH_REQUEST_LOG_BUFFER="0": must be positive`},
		{nil, []string{"--request-log-interval", "-1s"}, `--request-log-interval="-1s": must be positive`},
		{map[string]string{"SNAPGLYPH_REQUEST_LOG_RETENTION": "gold=9d"}, nil, `SNAPGLYPH_REQUEST_LOG_RETENTION="gold=9d": unknown plan "gold"`},
		{nil, []string{"--request-log-retention", "max=9000d"}, `the retention of max must be 1 to 3650 days`},
		{nil, []string{"--request-log-retention", "max"}, `"max" is not plan=days`},
	} {
		env := map[string]string{"SNAPGLYPH_DB": filepath.Join(t.TempDir(), "snapglyph.db")}
		for k, v := range tt.env {
			env[k] = v
		}
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...), mapEnv(env), strings.NewReader(""), &out, &out)
		if err == nil || !strings.Contains(errorText(err), tt.want) {
			t.Errorf("serve %v %v: error %v, want %q", tt.env, tt.args, err, tt.want)
		}
	}
}
