package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// SecretScanPath is where GitHub's secret scanning partner program sends
// the SnapGlyph keys it finds in public.
const SecretScanPath = "/secret-scanning/github"

// maxLeakReportBytes bounds a report's body.
const maxLeakReportBytes = 1 << 20

// Bounds of a report's url and source as they are kept and sent on.
const (
	maxLeakURLBytes    = 1000
	maxLeakSourceBytes = 100
)

// leakText is a field of a leak report as it is kept and shown: made
// storable as text recorded about a request is (snapglyph.StorableRedacted:
// UTF-8, no NUL, keys cut, at most max bytes), without the characters
// people's text may not hold (snapglyph.Hidden: control characters, line
// breaks, format characters such as U+202E). They are dropped, not
// refused: a real report is acted on whatever its text fields hold.
func leakText(s string, max int) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if snapglyph.Hidden(r) {
			return -1
		}
		return r
	}, snapglyph.StorableRedacted(s, max)))
}

// leakURL is a report's url as it is kept: cleaned as leakText, if it is
// then an http or https URL of at most maxLeakURLBytes; "" otherwise (a
// cut URL would point elsewhere).
func leakURL(s string) string {
	if len(s) > maxLeakURLBytes {
		return ""
	}
	// Room for each invalid byte's U+FFFD: nothing is cut here.
	s = leakText(s, 3*maxLeakURLBytes)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > maxLeakURLBytes {
		return ""
	}
	return s
}

// leakFeedback is one entry of the answer GitHub's partner program
// accepts: a label per token, named by the token's SHA-256 (never the
// token itself).
type leakFeedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"` // true_positive or false_positive
}

// handleSecretScan receives a leak report: a JSON array of {token, type,
// url, source}, signed by GitHub (GITHUB-PUBLIC-KEY-IDENTIFIER names the
// key, GITHUB-PUBLIC-KEY-SIGNATURE is the base64 ASN.1 ECDSA signature
// of the body's SHA-256). A report without a valid signature is refused
// (403 signature_invalid) before anything is read from it; the same
// report twice is refused (409 leak_report_replayed). Each token that is
// one of our active keys is paused, or revoked as its organisation
// chose, on every node before the answer is sent; the answer labels each
// token true_positive or false_positive. The url and source are kept
// cleaned (leakURL, leakText): a report is never refused over them.
func (s *Server) handleSecretScan(w http.ResponseWriter, r *http.Request) {
	if s.scanKeys == nil {
		s.writeError(w, r, snapglyph.Errorf(snapglyph.ENOTFOUND, "secret scanning is not set up on this server (serve --secret-scanning-keys)"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLeakReportBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.writeError(w, r, snapglyph.Errorf(snapglyph.ETOOLARGE, "a report is at most %d bytes", maxLeakReportBytes))
			return
		}
		s.writeError(w, r, snapglyph.Errorf(snapglyph.EINVALID, "the report could not be read"))
		return
	}
	id, sig := r.Header.Get("Github-Public-Key-Identifier"), r.Header.Get("Github-Public-Key-Signature")
	if id == "" || sig == "" {
		s.writeError(w, r, badSignature("the report is not signed: GITHUB-PUBLIC-KEY-IDENTIFIER and GITHUB-PUBLIC-KEY-SIGNATURE are required"))
		return
	}
	pub, err := s.scanKeys.Key(r.Context(), id)
	if errors.Is(err, errUnknownScanKey) {
		s.writeError(w, r, badSignature("the report is signed with a key that is not one of GitHub's secret-scanning keys"))
		return
	} else if err != nil {
		s.log.Error("secret scanning: keys unavailable", "err", err)
		s.writeError(w, r, snapglyph.Errorf(snapglyph.EUNAVAILABLE, "the secret-scanning keys cannot be read at the moment; try again later"))
		return
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	digest := sha256.Sum256(body)
	if err != nil || !ecdsa.VerifyASN1(pub, digest[:], raw) {
		s.writeError(w, r, badSignature("the report's signature does not match its body"))
		return
	}
	var items []struct {
		Token  string `json:"token"`
		Type   string `json:"type"`
		URL    string `json:"url"`
		Source string `json:"source"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&items); err != nil || dec.More() {
		s.writeError(w, r, snapglyph.Codef(snapglyph.EINVALID, "invalid_json", "the report is not a JSON array of {token, type, url, source}"))
		return
	}
	leaks := make([]service.Leak, len(items))
	for i, it := range items {
		leaks[i] = service.Leak{Token: it.Token, Type: it.Type, URL: leakURL(it.URL), Source: leakText(it.Source, maxLeakSourceBytes)}
	}
	results, err := s.svc.ReportLeaks(r.Context(), hex.EncodeToString(digest[:]), leaks)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]leakFeedback, len(results))
	found := 0
	for i, res := range results {
		out[i] = leakFeedback{TokenHash: res.TokenHash, TokenType: snapglyph.Storable(res.Type, 100), Label: "false_positive"}
		if res.Found {
			out[i].Label = "true_positive"
			found++
		}
	}
	s.log.Info("secret scanning: report", "tokens", len(results), "ours", found, "key_identifier", snapglyph.Shorten(strings.ToValidUTF8(id, "?"), 80))
	writeJSON(w, http.StatusOK, "application/json", out)
}

func badSignature(msg string) error {
	return snapglyph.Codef(snapglyph.EFORBIDDEN, "signature_invalid", "%s", msg)
}
