package snapglyph

import "context"

type httpsKey struct{}

// WithHTTPS marks a request's context as having reached us over HTTPS
// through a trusted proxy that ended TLS (X-Forwarded-Proto: https from a
// configured proxy). Only the server's proxy handling sets it; a header
// from anyone else never does.
func WithHTTPS(ctx context.Context) context.Context {
	return context.WithValue(ctx, httpsKey{}, true)
}

// ViaHTTPS reports whether WithHTTPS marked the context.
func ViaHTTPS(ctx context.Context) bool {
	v, _ := ctx.Value(httpsKey{}).(bool)
	return v
}
