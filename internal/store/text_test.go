package store

import (
	"testing"
)

func TestCleanArgs(t *testing.T) {
	args := []any{"qr_1", int64(3), []byte("\xff")}
	if got := cleanArgs(args); &got[0] != &args[0] {
		t.Fatal("clean arguments were copied")
	}
	if n := testing.AllocsPerRun(100, func() { cleanArgs(args) }); n != 0 {
		t.Fatalf("%v allocations for clean arguments", n)
	}
	bad := []any{"qr_1", "a\x00b\xffc", 7}
	got := cleanArgs(bad)
	if got[0] != "qr_1" || got[1] != "a\uFFFDb\uFFFDc" || got[2] != 7 {
		t.Fatalf("cleaned %q", got)
	}
	if bad[1] != "a\x00b\xffc" {
		t.Fatal("the caller's arguments were changed")
	}
}
