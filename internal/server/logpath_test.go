package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// raw sends a request line exactly as given (Go's client would clean
// it) and returns the response.
func (h *harness) raw(method, target string, header ...string) *http.Response {
	h.t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(h.srv.URL, "http://"), 5*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
	for _, hd := range header {
		req += hd + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// logLines returns the request log lines (JSON-free text handler) that
// mention the request id.
func (h *harness) logLine(id string) string {
	h.t.Helper()
	var line string
	eventually(h.t, 5*time.Second, func() error {
		for _, l := range strings.Split(h.logs.String(), "\n") {
			if strings.Contains(l, "msg=request") && strings.Contains(l, id) {
				line = l
				return nil
			}
		}
		return errf("no log line for request %s", id)
	})
	return line
}

// TestSecretsNotLoggedFromPaths: invitation tokens and API keys in any
// spelling of a path stay out of the log; the log shows the cleaned path.
func TestSecretsNotLoggedFromPaths(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	key := snapglyph.GenerateKey()
	const token = "inv1tat10nT0k3nS3cr3t"
	for _, target := range []string{
		"/invite/" + token, "//invite/" + token, "/invite//" + token, "/./invite/" + token,
		"/static/../invite/" + token, "/invite/" + token + "/", "/Invite/" + token,
	} {
		resp := h.raw("GET", target)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		line := h.logLine(resp.Header.Get("X-Request-Id"))
		if strings.Contains(line, token) || !strings.Contains(line, "/…") {
			t.Errorf("GET %s logged as: %s", target, line)
		}
	}
	for _, target := range []string{"/api/v1/qr-codes/" + key, "/api/v1/" + key, "//" + key, "/x/" + key[8:]} {
		resp := h.raw("GET", target, "Authorization: Bearer "+h.key)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		line := h.logLine(resp.Header.Get("X-Request-Id"))
		if strings.Contains(line, key[8:]) {
			t.Errorf("GET %s logged as: %s", target, line)
		}
		// net/http's mux answers a non-canonical path with a redirect to
		// the cleaned one, which names it; the 404s must not echo it.
		if resp.StatusCode == 404 && strings.Contains(string(body), key[8:]) {
			t.Errorf("GET %s: the body echoes the key: %s", target, body)
		}
	}
	if strings.Contains(h.logs.String(), token) || strings.Contains(h.logs.String(), key[8:]) {
		t.Fatal("a secret is in the log")
	}
}

// TestLongURLs: a URL over MaxURILength is 414 uri_too_long with a short
// body and a short log line; up to the limit it is routed; a 404 echoes
// only a short, cleaned part of the path.
func TestLongURLs(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	for _, size := range []int{server.MaxURILength + 1, 800 << 10} {
		target := "/api/v1/" + strings.Repeat("a", size-len("/api/v1/"))
		resp := h.raw("GET", target, "Authorization: Bearer "+h.key)
		id := resp.Header.Get("X-Request-Id")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 414 || len(body) > 600 {
			t.Fatalf("%d-byte URL: status %d, %d-byte body %.300s", size, resp.StatusCode, len(body), body)
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil || p["code"] != "uri_too_long" || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%d-byte URL: %s", size, body)
		}
		if line := h.logLine(id); len(line) > 600 || !strings.Contains(line, "status=414") {
			t.Fatalf("%d-byte URL: log line of %d bytes: %.300s", size, len(line), line)
		}
	}
	// The query counts too.
	resp := h.raw("GET", "/api/v1/usage?x="+strings.Repeat("b", server.MaxURILength), "Authorization: Bearer "+h.key)
	resp.Body.Close()
	if resp.StatusCode != 414 {
		t.Fatalf("long query: status %d", resp.StatusCode)
	}
	// At the limit: routed, and the 404 echoes a short part.
	target := "/api/v1/" + strings.Repeat("\u00e9", (server.MaxURILength-len("/api/v1/"))/6) // é is %C3%A9: 6 bytes sent
	target = strings.ReplaceAll(target, "\u00e9", "%C3%A9")
	target += strings.Repeat("c", server.MaxURILength-len(target))
	resp = h.raw("GET", target, "Authorization: Bearer "+h.key)
	id := resp.Header.Get("X-Request-Id")
	p := expectProblem(t, resp, 404, "not_found")
	if d := p["detail"].(string); len(d) > 400 {
		t.Fatalf("the 404 detail is %d bytes: %.300s", len(d), d)
	}
	if line := h.logLine(id); len(line) > 600 {
		t.Fatalf("log line of %d bytes", len(line))
	}
	// Nor a long QR-code id.
	for _, method := range []string{"GET", "PATCH", "DELETE"} {
		headers := []string{"Authorization: Bearer " + h.key}
		if method == "PATCH" { // the only one of them that takes a body
			headers = append(headers, "Content-Type: application/json", "Content-Length: 2")
		}
		resp = h.raw(method, "/api/v1/qr-codes/qr_"+strings.Repeat("d", 7000), headers...)
		p := expectProblem(t, resp, 404, "not_found")
		if d := p["detail"].(string); len(d) > 400 {
			t.Fatalf("%s: the 404 detail is %d bytes: %.300s", method, len(d), d)
		}
	}
	// A long method is not echoed whole either.
	resp = h.raw(strings.Repeat("M", 4000), "/api/v1/nothing", "Authorization: Bearer "+h.key)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) > 600 {
		t.Fatalf("long method: %d-byte body", len(body))
	}
}
