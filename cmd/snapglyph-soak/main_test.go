package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestChargeOf pins the soak's counting rule to DESIGN §5: refusals cost
// nothing, every other answer past authentication one call, images their
// credits, and a 503 only if the call had been charged (it carries the
// usage headers).
func TestChargeOf(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		headers     map[string]string
		wantCharged bool
		wantCredits int64
	}{
		{"usage", 200, map[string]string{"Content-Type": "application/json"}, true, 0},
		{"png", 200, map[string]string{"Content-Type": "image/png"}, true, 10},
		{"svg", 200, map[string]string{"Content-Type": "image/svg+xml"}, true, 1},
		{"created", 201, nil, true, 0},
		{"bad input", 400, nil, true, 0},
		{"not found", 404, nil, true, 0},
		{"not modified", 304, map[string]string{"Content-Type": "image/png"}, true, 0},
		{"too large", 413, nil, true, 0},
		{"logo needs png", 422, nil, true, 0},
		{"bad key", 401, nil, false, 0},
		{"starter", 403, nil, false, 0},
		{"limit", 429, map[string]string{"X-Ratelimit-Limit": "10"}, false, 0},
		{"database down before the charge", 503, nil, false, 0},
		{"database down after the charge", 503, map[string]string{"X-Ratelimit-Limit": "10"}, true, 0},
		{"net/http's own 400", 400, map[string]string{"X-Request-Id": ""}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			resp.Header.Set("X-Request-Id", "r1")
			for k, v := range tc.headers {
				if v == "" {
					resp.Header.Del(k)
					continue
				}
				resp.Header.Set(k, v)
			}
			charged, credits := chargeOf(resp)
			if charged != tc.wantCharged || credits != tc.wantCredits {
				t.Errorf("chargeOf = %v, %d; want %v, %d", charged, credits, tc.wantCharged, tc.wantCredits)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"PG_STOP": "stop", "PG_START": "start"}
	getenv := func(k string) string { return env[k] }
	if _, err := parseFlags([]string{"-db", "postgres://x"}, getenv); err != nil {
		t.Fatalf("defaults with PG_STOP and PG_START: %v", err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, env, "-db"},
		{[]string{"-db", "postgres://x"}, nil, "PG_STOP"},
		{[]string{"-db", "postgres://x", "-nodes", "1"}, env, "at least 2 nodes"},
		{[]string{"-db", "postgres://x", "-duration", "5s"}, env, "at least 20s"},
		{[]string{"-db", "postgres://x", "-workers", "0"}, env, "at least 1"},
	} {
		_, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q): %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
