package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// ParseTrustedProxies parses a comma-separated list of addresses and
// CIDR prefixes ("10.0.0.0/8, 127.0.0.1").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// realClient replaces r.RemoteAddr by the client's address when the peer
// is a trusted proxy (a load balancer in front of the nodes): the
// rightmost address of X-Forwarded-For that is not itself trusted. Every
// handler after it (last-used IP, audit log, sign-in throttling) then
// sees the client. A trusted proxy's X-Forwarded-Proto: https also marks
// the request as having come over HTTPS (snapglyph.WithHTTPS), for the
// dashboard's Secure cookies and HSTS. Without trusted proxies both
// headers are ignored, since anyone can send them.
func realClient(trusted []netip.Prefix, r *http.Request) *http.Request {
	if len(trusted) == 0 {
		return r
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(trusted, peer) {
		return r
	}
	if forwardedHTTPS(r.Header.Values("X-Forwarded-Proto")) {
		r = r.WithContext(snapglyph.WithHTTPS(r.Context()))
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return r // a malformed hop: keep the peer
		}
		// A zone (fe80::1%eth0) names an interface of the host that wrote
		// it, nothing of the client: the address is kept without it.
		a = a.Unmap().WithZone("")
		if !isTrusted(trusted, a) {
			r.RemoteAddr = net.JoinHostPort(a.String(), "0")
			return r
		}
	}
	return r
}

// forwardedHTTPS reports whether X-Forwarded-Proto says https, and only
// https: a proxy that appends to the header instead of replacing it would
// pass on "https, http" from a client that wrote "https" itself over
// plain HTTP, so a list counts only when every entry is https.
func forwardedHTTPS(values []string) bool {
	n := 0
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if !strings.EqualFold(strings.TrimSpace(p), "https") {
				return false
			}
			n++
		}
	}
	return n > 0
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
