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
	"strings"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// SecretScanPath is where GitHub's secret scanning partner program sends
// the SnapGlyph keys it finds in public.
const SecretScanPath = "/secret-scanning/github"

// maxLeakReportBytes bounds a report's body.
const maxLeakReportBytes = 1 << 20

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
// token true_positive or false_positive.
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
		leaks[i] = service.Leak{Token: it.Token, Type: it.Type, URL: it.URL, Source: it.Source}
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
