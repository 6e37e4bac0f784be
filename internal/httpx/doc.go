// Package httpx holds the HTTP rules the API (internal/server) and the
// dashboard (internal/web) share, so each is written once: the status of
// each kind of error and conditional requests (ETag, If-None-Match,
// If-Match).
package httpx
