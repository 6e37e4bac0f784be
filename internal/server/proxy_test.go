package server

import (
	"net/http/httptest"
	"testing"
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
