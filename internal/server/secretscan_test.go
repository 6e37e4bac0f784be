package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// signer is a key pair standing in for one of GitHub's secret-scanning
// keys.
type signer struct {
	id  string
	key *ecdsa.PrivateKey
}

func newSigner(t *testing.T, id string) *signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{id: id, key: k}
}

// keyList is GitHub's published format for the signers' public keys.
func keyList(t *testing.T, signers ...*signer) []byte {
	t.Helper()
	type entry struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []entry `json:"public_keys"`
	}
	for i, s := range signers {
		der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		doc.PublicKeys = append(doc.PublicKeys, entry{s.id, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), i == len(signers)-1})
	}
	b, _ := json.Marshal(doc)
	return b
}

func (s *signer) sign(t *testing.T, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

type leakItem struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

func report(t *testing.T, items ...leakItem) []byte {
	t.Helper()
	b, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postReport sends a leak report with the identifier and signature given
// (none when empty).
func postReport(t *testing.T, url string, body []byte, id, sig string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+server.SecretScanPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		req.Header.Set("GITHUB-PUBLIC-KEY-IDENTIFIER", id)
	}
	if sig != "" {
		req.Header.Set("GITHUB-PUBLIC-KEY-SIGNATURE", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// scanKeysFile writes the key list to a file and returns its ScanKeys.
func scanKeysFile(t *testing.T, signers ...*signer) *server.ScanKeys {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret_scanning.json")
	if err := os.WriteFile(path, keyList(t, signers...), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := server.NewScanKeys(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

func keyStatus(t *testing.T, h *harness) snapglyph.KeyStatus {
	t.Helper()
	k, err := h.db.Key(context.Background(), h.kid)
	if err != nil {
		t.Fatal(err)
	}
	return k.Status
}

// TestSecretScanRefusesForgeries: unsigned reports, reports signed by
// another key, with an unknown key identifier, a bad signature or a body
// changed after signing are refused with 403 and change nothing.
func TestSecretScanRefusesForgeries(t *testing.T) {
	gh := newSigner(t, "gh-current")
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{SecretScanKeys: scanKeysFile(t, gh)})
	body := report(t, leakItem{h.key, "snapglyph_api_key", "https://github.com/octocat/hello/blob/main/.env", "content"})
	mallory := newSigner(t, "gh-current")
	changed := bytes.Replace(body, []byte("octocat"), []byte("octodog"), 1)
	for _, c := range []struct{ name, id, sig string }{
		{"unsigned", "", ""},
		{"no signature", gh.id, ""},
		{"no identifier", "", gh.sign(t, body)},
		{"signed by another key", gh.id, mallory.sign(t, body)},
		{"unknown identifier", "gh-other", gh.sign(t, body)},
		{"not base64", gh.id, "%%%not base64%%%"},
		{"a signature of another body", gh.id, gh.sign(t, changed)},
		{"a signature of nothing", gh.id, base64.StdEncoding.EncodeToString([]byte("0"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := postReport(t, h.srv.URL, body, c.id, c.sig)
			if resp.StatusCode != http.StatusForbidden || !bytes.Contains(b, []byte(`"code":"signature_invalid"`)) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if bytes.Contains(b, []byte(h.key)) {
				t.Fatal("the answer echoes the key")
			}
		})
	}
	if st := keyStatus(t, h); st != snapglyph.KeyActive {
		t.Fatalf("a forged report made the key %s", st)
	}
	if resp := h.get("/api/v1/usage", h.key); resp.StatusCode != http.StatusOK {
		t.Fatalf("the key no longer works: %d", resp.StatusCode)
	}
	if evs, _ := h.db.Events(context.Background(), h.org.ID, snapglyph.EventKeyLeaked, 10); len(evs) != 0 {
		t.Fatalf("%d leak events", len(evs))
	}
	// Not JSON, though signed: refused.
	junk := []byte(`{"token": "x"}`)
	if resp, b := postReport(t, h.srv.URL, junk, gh.id, gh.sign(t, junk)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a signed object: %d %s", resp.StatusCode, b)
	}
	if strings.Contains(h.logs.String(), h.key) {
		t.Fatal("the log holds the key")
	}
}

// TestSecretScanPausesOnEveryNode: a signed report naming an active key
// pauses it, and when the answer arrives a second node, which had the key
// in its cache, refuses it too. The answer labels each token by its
// SHA-256 and never echoes one; Owners are told; the audit log has it; the
// same report again is refused and changes nothing; an organisation that
// chose revoke has its key revoked.
func TestSecretScanPausesOnEveryNode(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		gh := newSigner(t, "gh-current")
		keys := scanKeysFile(t, gh)
		h := newHarness(t, db, node.Config{SecretScanKeys: keys})
		ctx := context.Background()
		// A second node on the same database, with the key in its cache.
		other, err := store.Open(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		other.Now = h.clock.Now
		n2, err := node.New(ctx, other, node.Config{SecretScanKeys: keys}, slog.New(slog.NewTextHandler(h.logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		n2.Start()
		srv2 := httptest.NewServer(n2.Handler())
		defer func() { srv2.Close(); n2.Close() }()
		get2 := func(key string) int {
			req, _ := http.NewRequest("GET", srv2.URL+"/api/v1/usage", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		eventually(t, 5e9, func() error {
			if !n2.Watcher.Ready() {
				return io.ErrNoProgress
			}
			return nil
		})
		if s := get2(h.key); s != http.StatusOK {
			t.Fatalf("node 2 before the report: %d", s)
		}

		url := "https://github.com/octocat/hello/blob/5e1f/.env"
		unknown := snapglyph.GenerateKey()
		items := []leakItem{
			{h.key, "snapglyph_api_key", url, "content"},
			{unknown, "snapglyph_api_key", url, "content"},
			{"qr_live_short", "snapglyph_api_key", url, "content"},
			{h.key, "other_api_token", url, "content"},
		}
		body := report(t, items...)
		sig := gh.sign(t, body)
		resp, b := postReport(t, h.srv.URL, body, gh.id, sig)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		// Every node refuses the key now: no waiting.
		if s := get2(h.key); s != http.StatusUnauthorized {
			t.Fatalf("node 2 answered %d right after the report", s)
		}
		expectProblem(t, h.get("/api/v1/usage", h.key), 401, "api_key_paused")

		var feedback []map[string]string
		if err := json.Unmarshal(b, &feedback); err != nil || len(feedback) != len(items) {
			t.Fatalf("feedback %s: %v", b, err)
		}
		labels := []string{"true_positive", "false_positive", "false_positive", "false_positive"}
		for i, f := range feedback {
			sum := sha256.Sum256([]byte(items[i].Token))
			if f["token_hash"] != hex.EncodeToString(sum[:]) || f["token_type"] != items[i].Type || f["label"] != labels[i] || len(f) != 3 {
				t.Errorf("feedback %d: %v", i, f)
			}
		}
		if bytes.Contains(b, []byte(h.key)) || bytes.Contains(b, []byte(unknown)) {
			t.Fatal("the answer echoes a token")
		}

		audit, _ := h.db.AuditEvents(ctx, h.org.ID, 0, 1)
		if audit[0].Action != "key.leaked" || !strings.Contains(audit[0].TargetName+" "+audit[0].Detail, "found in public at "+url) || audit[0].ActorLabel != "GitHub secret scanning" {
			t.Errorf("audit %+v", audit[0])
		}
		// Both nodes' deliverers run: whichever claims the event tells
		// the Owner.
		owners, _ := h.db.NoticeRecipients(ctx, h.org.ID)
		eventually(t, 10e9, func() error {
			ns, err := h.db.Notices(ctx, owners[0].UserID, h.org.ID, 0, 10)
			if err != nil {
				return err
			}
			if len(ns) == 0 || ns[0].Kind != snapglyph.EventKeyLeaked {
				return fmt.Errorf("the Owner has no leak notice yet: %d notices", len(ns))
			}
			if !strings.Contains(ns[0].Body, "in public at "+url) || !strings.Contains(ns[0].Body, "paused at once") {
				t.Fatalf("the Owner's notice %+v", ns[0])
			}
			return nil
		})

		// The same report again: refused, even after the key is resumed.
		if _, err := h.cli.ResumeKey(ctx, snapglyph.Operator, h.kid); err != nil {
			t.Fatal(err)
		}
		resp, b = postReport(t, h.srv.URL, body, gh.id, sig)
		if resp.StatusCode != http.StatusConflict || !bytes.Contains(b, []byte(`"code":"leak_report_replayed"`)) {
			t.Fatalf("a replay: %d %s", resp.StatusCode, b)
		}
		if st := keyStatus(t, h); st != snapglyph.KeyActive {
			t.Fatalf("a replay made the key %s", st)
		}

		// Revoke, as the organisation chose; two reports at once act once.
		if err := h.cli.SetLeakAction(ctx, snapglyph.Operator, h.org.ID, snapglyph.LeakRevoke); err != nil {
			t.Fatal(err)
		}
		body = report(t, leakItem{h.key, "snapglyph_api_key", url + "?2", "commit"})
		sig = gh.sign(t, body)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, base := range []string{h.srv.URL, srv2.URL} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := postReport(t, base, body, gh.id, sig)
				codes[i] = r.StatusCode
			}()
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 409) && !(codes[0] == 409 && codes[1] == 200) {
			t.Fatalf("two copies of one report: %v", codes)
		}
		if st := keyStatus(t, h); st != snapglyph.KeyRevoked {
			t.Fatalf("the key is %s, want revoked", st)
		}
		if s := get2(h.key); s != http.StatusUnauthorized {
			t.Fatalf("node 2: %d", s)
		}
		if evs, _ := h.db.Events(ctx, h.org.ID, snapglyph.EventKeyLeaked, 10); len(evs) != 2 || evs[1].Str("action") != "revoked" {
			t.Fatalf("leak events %+v", evs)
		}
		if strings.Contains(h.logs.String(), h.key) {
			t.Fatal("a log holds the key")
		}
	})
}

// TestScanKeysFromURL: keys come from an https URL; a report signed with
// a key GitHub rotated in since is accepted once the list is read again;
// an unreachable list keeps the keys known; plain http is refused.
func TestScanKeysFromURL(t *testing.T) {
	old, cur := newSigner(t, "gh-1"), newSigner(t, "gh-2")
	var mu sync.Mutex
	list := keyList(t, old)
	down := false
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(list)
	}))
	defer ts.Close()
	if _, err := server.NewScanKeys(strings.Replace(ts.URL, "https", "http", 1), nil); err == nil {
		t.Fatal("an http URL was accepted")
	}
	keys, err := server.NewScanKeys(ts.URL+"/meta/public_keys/secret_scanning", ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	keys.MinRetry = 0
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{SecretScanKeys: keys})
	_, key2, _ := h.newOrgKey("pro")

	body := report(t, leakItem{h.key, "snapglyph_api_key", "https://github.com/a/b", "content"})
	if resp, b := postReport(t, h.srv.URL, body, old.id, old.sign(t, body)); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if keys.Reads() != 1 {
		t.Fatalf("%d reads", keys.Reads())
	}
	mu.Lock()
	list = keyList(t, old, cur) // GitHub rotates
	mu.Unlock()
	body = report(t, leakItem{key2, "snapglyph_api_key", "https://github.com/a/c", "content"})
	if resp, b := postReport(t, h.srv.URL, body, cur.id, cur.sign(t, body)); resp.StatusCode != 200 || !bytes.Contains(b, []byte("true_positive")) {
		t.Fatalf("signed with the new key: %d %s", resp.StatusCode, b)
	}
	if keys.Reads() != 2 {
		t.Fatalf("%d reads, want 2", keys.Reads())
	}
	// The list is unreachable: the keys already known still verify, and
	// an unknown identifier is refused.
	mu.Lock()
	down = true
	mu.Unlock()
	body = report(t, leakItem{snapglyph.GenerateKey(), "snapglyph_api_key", "https://github.com/a/d", "content"})
	if resp, b := postReport(t, h.srv.URL, body, cur.id, cur.sign(t, body)); resp.StatusCode != 200 {
		t.Fatalf("with the list down: %d %s", resp.StatusCode, b)
	}
	if resp, _ := postReport(t, h.srv.URL, body, "gh-3", cur.sign(t, body)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an unknown identifier with the list down: %d", resp.StatusCode)
	}
}

// TestSecretScanOff: without keys the endpoint says it is not set up.
func TestSecretScanOff(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	body := report(t, leakItem{h.key, "snapglyph_api_key", "https://github.com/a/b", "content"})
	resp, b := postReport(t, h.srv.URL, body, "x", "y")
	if resp.StatusCode != http.StatusNotFound || !bytes.Contains(b, []byte("not set up")) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if st := keyStatus(t, h); st != snapglyph.KeyActive {
		t.Fatal(st)
	}
}

// TestSecretScanHostileReport: a signed report's text is stored cleaned
// and bounded (NUL, broken UTF-16, 5,000-character URLs), the answer
// never grows with what was sent, and oversized reports are refused
// without acting.
func TestSecretScanHostileReport(t *testing.T) {
	gh := newSigner(t, "gh")
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{SecretScanKeys: scanKeysFile(t, gh)})
	ctx := context.Background()
	long := "https://github.com/o/r/blob/x/" + strings.Repeat("é", 5000)
	body := []byte(`[{"token":"` + h.key + `","type":"snapglyph_api_key","url":"https://github.com/\u0000x\ud800y","source":"con\u0000tent"},` +
		`{"token":"` + strings.Repeat("A", 100000) + `","type":"` + strings.Repeat("t", 5000) + `","url":"` + long + `","source":"s"}]`)
	resp, b := postReport(t, h.srv.URL, body, gh.id, gh.sign(t, body))
	if resp.StatusCode != 200 || len(b) > 1000 {
		t.Fatalf("%d, %d bytes: %.300s", resp.StatusCode, len(b), b)
	}
	evs, _ := h.db.Events(ctx, h.org.ID, snapglyph.EventKeyLeaked, 10)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	if u := evs[0].Str("url"); strings.ContainsRune(u, 0) || !utf8.ValidString(u) || u != "https://github.com/x\uFFFDy" {
		t.Errorf("stored url %q", u)
	}
	if s := evs[0].Str("source"); s != "content" {
		t.Errorf("stored source %q", s)
	}

	many := make([]leakItem, 1001)
	for i := range many {
		many[i] = leakItem{snapglyph.GenerateKey(), "snapglyph_api_key", "u", "s"}
	}
	body = report(t, many...)
	if resp, b := postReport(t, h.srv.URL, body, gh.id, gh.sign(t, body)); resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("at most 1000")) {
		t.Fatalf("1001 tokens: %d %s", resp.StatusCode, b)
	}
	big := report(t, leakItem{strings.Repeat("x", 2<<20), "snapglyph_api_key", "u", "s"})
	if resp, _ := postReport(t, h.srv.URL, big, gh.id, gh.sign(t, big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2 MiB report: %d", resp.StatusCode)
	}
	empty := []byte(`[]`)
	if resp, _ := postReport(t, h.srv.URL, empty, gh.id, gh.sign(t, empty)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an empty report: %d", resp.StatusCode)
	}
}
