package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

func TestRealClient(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer, xff, want string
		trusted               bool
	}{
		{"direct client, header ignored", "198.51.100.9:4000", "203.0.113.5", "198.51.100.9:4000", true},
		{"through the load balancer", "10.1.2.3:5000", "203.0.113.5", "203.0.113.5:0", true},
		{"spoofed hop on the left is skipped", "10.1.2.3:5000", "6.6.6.6, 203.0.113.5", "203.0.113.5:0", true},
		{"two trusted hops", "127.0.0.1:5000", "203.0.113.5, 10.9.9.9", "203.0.113.5:0", true},
		{"malformed hop keeps the peer", "10.1.2.3:5000", "not-an-ip", "10.1.2.3:5000", true},
		{"no trusted proxies configured", "10.1.2.3:5000", "203.0.113.5", "10.1.2.3:5000", false},
		{"a zone is dropped", "10.1.2.3:5000", "fe80::1%eth0", "[fe80::1]:0", true},
		{"a zone holding a key is dropped", "10.1.2.3:5000", "2001:db8::7%qr_live_gqC6beFitwFR6F6Iwu4F1grFrQ26dkx2", "[2001:db8::7]:0", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		r.Header.Set("X-Forwarded-For", tt.xff)
		list := trusted
		if !tt.trusted {
			list = nil
		}
		realClient(list, r)
		if r.RemoteAddr != tt.want {
			t.Errorf("%s: RemoteAddr %q, want %q", tt.name, r.RemoteAddr, tt.want)
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

// TestForwardedHTTPS: only a trusted proxy's X-Forwarded-Proto marks a
// request as HTTPS, and only when it says https and nothing else.
func TestForwardedHTTPS(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		proto      []string
		trusted    bool
		want       bool
	}{
		{"trusted proxy says https", "10.1.2.3:5000", []string{"https"}, true, true},
		{"any case", "10.1.2.3:5000", []string{"HTTPS"}, true, true},
		{"two hops, both https", "10.1.2.3:5000", []string{"https, https"}, true, true},
		{"two headers, both https", "10.1.2.3:5000", []string{"https", "https"}, true, true},
		{"trusted proxy says http", "10.1.2.3:5000", []string{"http"}, true, false},
		{"client's https appended to by the proxy", "10.1.2.3:5000", []string{"https, http"}, true, false},
		{"two headers, one http", "10.1.2.3:5000", []string{"https", "http"}, true, false},
		{"no header", "10.1.2.3:5000", nil, true, false},
		{"empty header", "10.1.2.3:5000", []string{""}, true, false},
		{"empty entry", "10.1.2.3:5000", []string{"https,"}, true, false},
		{"NUL", "10.1.2.3:5000", []string{"https\x00"}, true, false},
		{"invalid UTF-8", "10.1.2.3:5000", []string{"https\xff"}, true, false},
		{"huge", "10.1.2.3:5000", []string{strings.Repeat("https,", 100000) + "http"}, true, false},
		{"untrusted client says https", "198.51.100.9:4000", []string{"https"}, true, false},
		{"no trusted proxies configured", "10.1.2.3:5000", []string{"https"}, false, false},
		{"peer without a port", "10.1.2.3", []string{"https"}, true, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		for _, v := range tt.proto {
			r.Header.Add("X-Forwarded-Proto", v)
		}
		list := trusted
		if !tt.trusted {
			list = nil
		}
		if got := snapglyph.ViaHTTPS(realClient(list, r).Context()); got != tt.want {
			t.Errorf("%s: via HTTPS %v, want %v", tt.name, got, tt.want)
		}
	}
}
