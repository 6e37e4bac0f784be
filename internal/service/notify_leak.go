package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// LeakTokenType is the token type registered with GitHub's secret
// scanning partner program for SnapGlyph API keys.
const LeakTokenType = "snapglyph_api_key"

// MaxLeaksPerReport bounds the tokens of one report.
const MaxLeaksPerReport = 1000

// Leak is one token of a leak report as GitHub sends it.
type Leak struct {
	Token  string
	Type   string
	URL    string
	Source string
}

// LeakResult is what a reported token turned out to be. TokenHash is the
// hex SHA-256 of the token: the answer names tokens by it, never by the
// token itself.
type LeakResult struct {
	TokenHash string
	Type      string
	Found     bool   // one of our keys: a true positive
	Action    string // "paused", "revoked", or "" (nothing to do)
}

// ReportLeaks acts on a leak report whose signature the caller verified.
// reportDigest identifies the report (the SHA-256 of its body): the same
// report again is refused with ECONFLICT (leak_report_replayed) and
// changes nothing. Each token that is an active key of ours is paused at
// once, or revoked if its organisation chose so, with the reason "found
// in public at URL"; its Owners and Admins are told (notices, mail,
// webhooks: the api_key.leaked event), and the audit log records it. When
// ReportLeaks returns, every node refuses those keys (on PostgreSQL it
// waits for them, as every key change does). Tokens of another type, or
// that are not well-formed keys, are false positives without a lookup.
// Returns EINVALID for an empty or oversized report.
func (s *Service) ReportLeaks(ctx context.Context, reportDigest string, leaks []Leak) ([]LeakResult, error) {
	if len(leaks) == 0 {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the report names no token")
	}
	if len(leaks) > MaxLeaksPerReport {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the report names %d tokens; at most %d are accepted at once", len(leaks), MaxLeaksPerReport)
	}
	out := make([]LeakResult, len(leaks))
	var ours []store.Leak
	var at []int // index in out of each of ours
	for i, l := range leaks {
		sum := sha256.Sum256([]byte(l.Token))
		out[i] = LeakResult{TokenHash: hex.EncodeToString(sum[:]), Type: l.Type}
		if l.Type != LeakTokenType || snapglyph.CheckKey(l.Token) != nil {
			continue
		}
		ours = append(ours, store.Leak{Digest: snapglyph.DigestKey(l.Token), URL: l.URL, Source: l.Source})
		at = append(at, i)
	}
	// The report is recorded even when none of it is ours, so a replay
	// of it is refused all the same.
	verdicts, err := s.db.ApplyLeakReport(ctx, reportDigest, ours)
	if err != nil {
		return nil, err
	}
	var stopped []string
	for j, v := range verdicts {
		r := &out[at[j]]
		r.Found, r.Action = v.Found, v.Action
		if v.Action != "" {
			stopped = append(stopped, v.KeyID)
		}
	}
	// One transaction changed them all: one wait covers every node.
	s.changedAll(ctx, snapglyph.ChangeKey, stopped)
	return out, nil
}
