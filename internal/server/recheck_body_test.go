package server_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// pipedRequest is a request whose body a client writes in pieces through
// a pipe, as an SDK streaming a body would. It is sent with Expect:
// 100-continue, so the transport reads the pipe only once the server has
// answered 100 Continue, which net/http does when the handler first reads
// the body: once the first piece is taken, the key has passed its first
// check and the call is charged.
type pipedRequest struct {
	t    *testing.T
	pw   *io.PipeWriter
	done chan pipedResult
}

type pipedResult struct {
	resp *http.Response
	err  error
}

// beginPiped sends method path with key and a JSON body of size bytes,
// and writes its first piece.
func (h *harness) beginPiped(method, path, key string, size int, first string) *pipedRequest {
	h.t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(method, h.srv.URL+path, pr)
	if err != nil {
		h.t.Fatal(err)
	}
	req.ContentLength = int64(size)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "piped-sdk/1.0")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second, DisableKeepAlives: true}}
	h.t.Cleanup(client.CloseIdleConnections)
	p := &pipedRequest{t: h.t, pw: pw, done: make(chan pipedResult, 1)}
	go func() {
		resp, err := client.Do(req)
		pr.Close() // a write after the answer fails instead of blocking
		p.done <- pipedResult{resp, err}
	}()
	h.t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	p.write(first)
	return p
}

// write hands the first piece of the body to the transport, failing the
// test if the request is answered before it is taken.
func (p *pipedRequest) write(piece string) {
	p.t.Helper()
	errc := p.send(piece)
	select {
	case err := <-errc:
		if err != nil {
			p.t.Fatalf("writing the body: %v", err)
		}
	case res := <-p.done:
		p.t.Fatalf("answered before the body was sent: %s", res)
	case <-time.After(10 * time.Second):
		p.t.Fatal("the body was not read within 10 s")
	}
}

func (p *pipedRequest) send(piece string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := io.WriteString(p.pw, piece)
		errc <- err
	}()
	return errc
}

func (r pipedResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	body, _ := io.ReadAll(r.resp.Body)
	return strconv.Itoa(r.resp.StatusCode) + " " + string(body)
}

// finish writes the rest of the body and returns the answer. The server
// answers only once it has read the whole body, so the rest is always
// taken; a write that fails means the request was answered early.
func (p *pipedRequest) finish(rest string) *http.Response {
	p.t.Helper()
	select {
	case err := <-p.send(rest):
		if err != nil {
			p.t.Fatalf("answered before the whole body was sent: %s", <-p.done)
		}
	case <-time.After(10 * time.Second):
		p.t.Fatal("the body was not read within 10 s")
	}
	p.pw.Close()
	select {
	case res := <-p.done:
		if res.err != nil {
			p.t.Fatal(res.err)
		}
		return res.resp
	case <-time.After(10 * time.Second):
		p.t.Fatal("no answer within 10 s")
	}
	return nil
}

// answer is what the client read of a response.
type answer struct {
	status          int
	code, requestID string
	limitHeader     string // X-RateLimit-Remaining
	wwwAuth         string
}

func read(t *testing.T, resp *http.Response) answer {
	t.Helper()
	a := answer{status: resp.StatusCode, requestID: resp.Header.Get("X-Request-Id"),
		limitHeader: resp.Header.Get("X-Ratelimit-Remaining"), wwwAuth: resp.Header.Get("WWW-Authenticate")}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		a.code, _ = problemOf(t, resp)["code"].(string)
	} else {
		drain(resp)
	}
	return a
}

// TestRecheckBeforeBodyErrors: a create or a change whose key is revoked
// (from the dashboard, as its Owner, or from another process) or paused
// while its body is still arriving is refused as a request sent after the
// command would be, whatever the body holds: malformed JSON, an unknown
// field, or a body over MaxBodyBytes get the same 401 api_key_revoked (or
// api_key_paused) as a good body, without usage headers, refunded, and in
// the request log as that refusal. Only a key still valid gets the
// body's own 400 or 413, which costs a call.
func TestRecheckBeforeBodyErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		org, owner, err := h.cli.CreateOrg(ctx, service.NewOrg{Name: "Piped", OwnerEmail: "owner@piped.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		// The dashboard acts through this node's service, as the Owner.
		dashboard := snapglyph.Actor{UserID: owner.ID, Label: owner.Email, IP: "198.51.100.7", OrgID: org.ID}
		newKey := func(name string) *service.NewKey {
			k, err := h.cli.CreateKey(ctx, snapglyph.Operator, org.ID, name)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		reader := newKey("Usage-Reader")

		const good = `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		// One byte over the limit: the server reads it all, so the client
		// is not cut off while it writes.
		oversize := `{"name":"` + strings.Repeat("n", server.MaxBodyBytes+1-len(`{"name":""}`)) + `"}`
		resp := h.send("POST", "/api/v1/qr-codes", reader.Secret, good)
		id := readJSON(t, resp, 201)["id"].(string)
		charged := int64(1) // the API calls sent that cost one, counted here
		sent := 1           // the requests sent with a key of the organisation

		// used reads the month's API calls both ways: the stored usage the
		// dashboard shows, and GET /api/v1/usage (which is one call more).
		used := func(when string) {
			t.Helper()
			h.node.Recorder.Flush(ctx)
			u, err := h.db.Usage(ctx, org.ID, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			if u.Used.APICalls != charged {
				t.Errorf("%s: the usage stored holds %d API calls, want %d", when, u.Used.APICalls, charged)
				charged = u.Used.APICalls // each case's error is its own
			}
			v := expectOK(t, h.get("/api/v1/usage", reader.Secret))
			charged++
			sent++
			if got := v["apiCalls"].(map[string]any)["used"]; got != float64(charged) {
				t.Errorf("%s: GET /api/v1/usage says %v API calls used, want %d", when, got, charged)
			}
		}
		used("before")

		type logged struct {
			status int
			code   string
			calls  int64
		}
		want := map[string]logged{} // by request id
		revoke := func(how string) func(kid string) (string, error) {
			return func(kid string) (string, error) {
				var err error
				switch how {
				case "dashboard":
					_, err = h.node.Service.RevokeKey(ctx, dashboard, kid)
				case "cli":
					_, err = h.cli.RevokeKey(ctx, snapglyph.Operator, kid)
				}
				return "api_key_revoked", err
			}
		}
		pause := func(kid string) (string, error) {
			_, err := h.node.Service.PauseKey(ctx, dashboard, kid)
			return "api_key_paused", err
		}
		stopped := []struct {
			name, method, path, body string
			stop                     func(kid string) (string, error)
		}{
			{"malformed JSON, revoked from the dashboard", "POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}`, revoke("dashboard")},
			{"malformed JSON, revoked from the CLI", "POST", "/api/v1/qr-codes", `{"name":"Menu",,"type":"url"}`, revoke("cli")},
			{"unknown field, revoked", "POST", "/api/v1/qr-codes", `{"name":"Menu","colour":"red","type":"url","content":{"url":"https://example.com/menu"}}`, revoke("dashboard")},
			{"oversize body, revoked", "POST", "/api/v1/qr-codes", oversize, revoke("dashboard")},
			{"good body, revoked", "POST", "/api/v1/qr-codes", good, revoke("dashboard")},
			{"malformed JSON change, paused", "PATCH", "/api/v1/qr-codes/" + id, `{"name":"Renamed"`, pause},
			{"oversize change, revoked from the CLI", "PATCH", "/api/v1/qr-codes/" + id, oversize, revoke("cli")},
		}
		for i, tc := range stopped {
			k := newKey("Piped-Client-" + strconv.Itoa(i))
			codes := h.countQR()
			first := min(len(tc.body)/2, 4096)
			piped := h.beginPiped(tc.method, tc.path, k.Secret, len(tc.body), tc.body[:first])
			code, err := tc.stop(k.ID)
			if err != nil {
				t.Fatal(err)
			}
			a := read(t, piped.finish(tc.body[first:]))
			sent++
			if a.status != http.StatusUnauthorized || a.code != code {
				t.Errorf("%s: answered %d %s, want 401 %s", tc.name, a.status, a.code, code)
			}
			if a.limitHeader != "" {
				t.Errorf("%s: the refusal carries usage headers (X-RateLimit-Remaining %s), as if a call was charged", tc.name, a.limitHeader)
			}
			if a.wwwAuth == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
			}
			if n := h.countQR(); n != codes {
				t.Errorf("%s: %d QR codes after the refused request, want %d", tc.name, n, codes)
			}
			h.node.Recorder.Flush(ctx)
			if u, err := h.db.KeyUsage(ctx, k.ID, "2026-11"); err != nil {
				t.Fatal(err)
			} else if u.APICalls != 0 {
				t.Errorf("%s: the stopped key was charged %d calls", tc.name, u.APICalls)
			}
			used(tc.name)
			want[a.requestID] = logged{http.StatusUnauthorized, code, 0}
		}

		// A key still valid gets the body's own answer, and pays for it.
		for _, tc := range []struct {
			name, method, path, body, code string
			status                         int
		}{
			{"malformed JSON", "POST", "/api/v1/qr-codes", `{"name":"Menu",,}`, "invalid_json", 400},
			{"unknown field", "POST", "/api/v1/qr-codes", `{"name":"Menu","colour":"red"}`, "invalid_request", 400},
			{"oversize body", "POST", "/api/v1/qr-codes", oversize, "request_too_large", 413},
			{"oversize change", "PATCH", "/api/v1/qr-codes/" + id, oversize, "request_too_large", 413},
			{"good body", "POST", "/api/v1/qr-codes", good, "", 201},
		} {
			first := min(len(tc.body)/2, 4096)
			piped := h.beginPiped(tc.method, tc.path, reader.Secret, len(tc.body), tc.body[:first])
			a := read(t, piped.finish(tc.body[first:]))
			charged++
			sent++
			if a.status != tc.status || a.code != tc.code {
				t.Errorf("valid key, %s: answered %d %q, want %d %q", tc.name, a.status, a.code, tc.status, tc.code)
			}
			if a.limitHeader == "" {
				t.Errorf("valid key, %s: no usage headers on a charged call", tc.name)
			}
			used("valid key, " + tc.name)
			want[a.requestID] = logged{tc.status, tc.code, 1}
		}
		if q := readJSON(t, h.send("GET", "/api/v1/qr-codes/"+id, reader.Secret, ""), 200); q["name"] != "Menu" {
			t.Errorf("the QR code was renamed %v", q["name"])
		}
		charged++
		sent++
		used("after")

		// The request log holds every request (each used() is one), the
		// refusals as such and uncharged.
		entries := logOf(t, h.cli, org.ID, sent)
		for _, e := range entries {
			w, ok := want[e.RequestID]
			if !ok {
				continue
			}
			delete(want, e.RequestID)
			if e.Status != w.status || e.Code != w.code || e.Calls != w.calls {
				t.Errorf("request %s logged as %d %q charged %d, want %d %q charged %d", e.RequestID, e.Status, e.Code, e.Calls, w.status, w.code, w.calls)
			}
		}
		for id := range want {
			t.Errorf("request %s is not in the request log", id)
		}
	})
}
