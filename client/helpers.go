package client

// Hand-written helpers beside the generated code (client.gen.go): the
// API key on every request, and problem documents as Go errors.

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
)

// WithAPIKey sends key as `Authorization: Bearer <key>` on every request.
// Keep the key in an environment variable or a secret manager, never in a
// URL, a log line or a web page.
func WithAPIKey(key string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	})
}

// Error makes a problem an error: its status, code and detail.
func (p *Problem) Error() string {
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

// ProblemOf returns the RFC 9457 problem document a response carries, or
// nil if it is not one (a success, or a body that is not
// application/problem+json). resp and body are the generated responses'
// HTTPResponse and Body fields.
func ProblemOf(resp *http.Response, body []byte) *Problem {
	if resp == nil || resp.StatusCode < 400 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		return nil
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Code == "" {
		return nil
	}
	return &p
}
