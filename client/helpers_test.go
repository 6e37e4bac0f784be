package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWithAPIKeyAndProblemOf: the key goes in the Authorization header of a
// generated call, and a problem answer comes back as a *Problem error that
// errors.As finds; a success is no problem.
func TestWithAPIKeyAndProblemOf(t *testing.T) {
	const key = "qr_live_test-only-not-a-real-key"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"type":"about:blank","title":"Unauthorized","status":401,"detail":"no key","code":"missing_api_key"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"period":"2026-11","apiCalls":{"used":1,"limit":1000,"remaining":999},"imageCredits":{"used":0,"limit":200,"remaining":200},"resetsAt":"2026-12-01T00:00:00Z"}`))
	}))
	defer srv.Close()

	c, err := NewClientWithResponses(srv.URL, WithAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.GetUsageWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON200 == nil || r.JSON200.ApiCalls.Remaining != 999 {
		t.Fatalf("usage: %d %s", r.StatusCode(), r.Body)
	}
	if p := ProblemOf(r.HTTPResponse, r.Body); p != nil {
		t.Errorf("a 200 read as a problem: %v", p)
	}

	anon, _ := NewClientWithResponses(srv.URL)
	r, err = anon.GetUsageWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var err2 error = ProblemOf(r.HTTPResponse, r.Body)
	var p *Problem
	if !errors.As(err2, &p) || p.Code != ProblemCodeMissingApiKey || p.Status != 401 {
		t.Fatalf("problem: %v", err2)
	}
	if got, want := p.Error(), "401 missing_api_key: no key"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	r.HTTPResponse.Header.Set("Content-Type", "application/json")
	if ProblemOf(r.HTTPResponse, r.Body) != nil {
		t.Error("a body that is not application/problem+json read as a problem")
	}
}
