package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSharedMemoryLockKept: a SQLite node keeps its lock on the database's
// -shm file while it runs. POSIX record locks belong to the process, and
// closing any descriptor of a file drops them all: the versioner opened
// the -shm file to map its header and closed it, which dropped SQLite's
// own lock, so a CLI command run beside `serve` took itself for the only
// user, rebuilt the wal-index under the node, and the node's requests
// failed with "disk I/O error".
func TestSharedMemoryLockKept(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	if _, err := db.Org(ctx, "org_none"); err == nil {
		t.Fatal("found an organisation in a new database")
	}
	held := func() bool {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(db.Path+"-shm", &st); err != nil {
			t.Fatal(err)
		}
		locks, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("no /proc/locks: %v", err)
		}
		// "1: POSIX  ADVISORY  READ 4242 08:01:1234 128 128"
		ino := fmt.Sprintf(":%d ", st.Ino)
		pid := fmt.Sprintf(" %d ", os.Getpid())
		for _, l := range strings.Split(string(locks), "\n") {
			if strings.Contains(l, "POSIX") && strings.Contains(l, pid) && strings.Contains(l, ino) {
				return true
			}
		}
		return false
	}
	if !held() {
		t.Fatal("SQLite holds no lock on the -shm file before the versioner: the test cannot tell")
	}
	v, err := db.NewVersioner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if !held() {
		t.Error("the process lost its lock on the -shm file when the versioner mapped it: another process would rebuild the wal-index under it")
	}
}
