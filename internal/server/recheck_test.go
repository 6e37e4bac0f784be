package server_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// slowBody is a request sent over a raw connection whose body is held
// back: begin sends the headers with Expect: 100-continue and waits for
// the server's 100 Continue, which it sends once the handler reads the
// body, that is once the key has been checked; finish sends the body and
// reads the answer.
type slowBody struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	body string
}

func (h *harness) beginSlowBody(method, path, key, body string) *slowBody {
	h.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(h.srv.URL, "http://"), 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
		"Authorization: Bearer " + key + "\r\nContent-Type: application/json\r\nUser-Agent: slow-sdk/1.0\r\n" +
		"Expect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		h.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		h.t.Fatalf("%s %s: want 100 Continue once the key is checked, got %q (%v)", method, path, line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		h.t.Fatalf("100 Continue followed by %q", blank)
	}
	// The first half of the body, a byte at a time, as a slow client.
	half := len(body) / 2
	for i := 0; i < half; i++ {
		if _, err := io.WriteString(conn, body[i:i+1]); err != nil {
			h.t.Fatal(err)
		}
	}
	return &slowBody{t: h.t, conn: conn, br: br, body: body[half:]}
}

func (s *slowBody) finish() *http.Response {
	s.t.Helper()
	if _, err := io.WriteString(s.conn, s.body); err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// TestRecheckAfterSlowBody: a create or a change whose body is still
// arriving when its key is revoked or paused is refused once the body is
// in, as the first check would refuse it (401 with the key's code, in
// the request log and /metrics as such), writes nothing and costs
// nothing. A body that arrives slowly with the key still valid, and a
// normal one, are served.
func TestRecheckAfterSlowBody(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		const body = `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		created := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, body), 201)
		id := created["id"].(string)
		charged := int64(1) // the calls this test expects charged, counted apart
		var logged []string

		for i, tc := range []struct {
			name, method, path, code, outcome string
			stop                              func(kid string) error
		}{
			{"create, revoked", "POST", "/api/v1/qr-codes", "api_key_revoked", "revoked", func(kid string) error {
				_, err := h.cli.RevokeKey(ctx, snapglyph.Operator, kid)
				return err
			}},
			{"create, paused", "POST", "/api/v1/qr-codes", "api_key_paused", "paused", func(kid string) error {
				_, err := h.cli.PauseKey(ctx, snapglyph.Operator, kid)
				return err
			}},
			{"change, revoked", "PATCH", "/api/v1/qr-codes/" + id, "api_key_revoked", "revoked", func(kid string) error {
				_, err := h.cli.RevokeKey(ctx, snapglyph.Operator, kid)
				return err
			}},
		} {
			k, err := h.cli.CreateKey(ctx, snapglyph.Operator, h.org.ID, "Slow-Client-"+strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			codes := h.countQR()
			outcome := h.metric(`snapglyph_key_verifications_total{outcome="` + tc.outcome + `"}`)
			valid := h.metric(`snapglyph_key_verifications_total{outcome="valid"}`)
			patch := `{"name":"Renamed by a stopped key"}`
			b := body
			if tc.method == "PATCH" {
				b = patch
			}
			slow := h.beginSlowBody(tc.method, tc.path, k.Secret, b)
			if err := tc.stop(k.ID); err != nil {
				t.Fatal(err)
			}
			resp := slow.finish()
			expectProblem(t, resp, http.StatusUnauthorized, tc.code)
			logged = append(logged, resp.Header.Get("X-Request-Id"))
			if resp.Header.Get("X-Ratelimit-Remaining") != "" {
				t.Errorf("%s: the refusal carries usage headers, as if a call was charged", tc.name)
			}
			if n := h.countQR(); n != codes {
				t.Errorf("%s: %d QR codes after the refused request, want %d", tc.name, n, codes)
			}
			if got := h.metric(`snapglyph_key_verifications_total{outcome="` + tc.outcome + `"}`); got != outcome+1 {
				t.Errorf("%s: %s verifications %v, want %v", tc.name, tc.outcome, got, outcome+1)
			}
			// Counted once, as refused: not valid as well for the first check.
			if got := h.metric(`snapglyph_key_verifications_total{outcome="valid"}`); got != valid {
				t.Errorf("%s: valid verifications %v, want %v", tc.name, got, valid)
			}
			h.node.Recorder.Flush(ctx)
			if u, err := h.db.KeyUsage(ctx, k.ID, "2026-11"); err != nil {
				t.Fatal(err)
			} else if u.APICalls != 0 {
				t.Errorf("%s: the stopped key was charged %d calls", tc.name, u.APICalls)
			}
			if calls, _ := h.credits(); calls != charged {
				t.Errorf("%s: the organisation was charged %d calls, want %d", tc.name, calls, charged)
			}
		}
		q := readJSON(t, h.send("GET", "/api/v1/qr-codes/"+id, h.key, ""), 200)
		charged++
		if q["name"] != "Menu" {
			t.Errorf("the QR code was renamed %v by a revoked key", q["name"])
		}

		// A slow body with the key still valid, and a normal one: created.
		resp := h.beginSlowBody("POST", "/api/v1/qr-codes", h.key, body).finish()
		readJSON(t, resp, 201)
		readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, body), 201)
		charged += 2
		if calls, _ := h.credits(); calls != charged {
			t.Errorf("the organisation was charged %d calls, want %d", calls, charged)
		}
		if n := h.countQR(); n != 3 {
			t.Errorf("%d QR codes, want 3", n)
		}

		// The refusals are in the request log with their codes, uncharged.
		byID := map[string]snapglyph.RequestLogEntry{}
		for _, e := range logOf(t, h.cli, h.org.ID, int(charged)+len(logged)) {
			byID[e.RequestID] = e
		}
		for _, id := range logged {
			e, ok := byID[id]
			if !ok || e.Status != 401 || (e.Code != "api_key_revoked" && e.Code != "api_key_paused") || e.Calls != 0 {
				t.Errorf("request %s logged as %+v", id, e)
			}
		}
	})
}
