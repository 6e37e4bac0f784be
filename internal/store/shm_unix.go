//go:build linux || darwin

package store

import (
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walHeader maps the start of SQLite's wal-index ("-shm") file read-only.
// Its first 48 bytes are the wal-index header, which every commit in WAL
// mode rewrites (iChange is incremented, mxFrame moves: see SQLite's "WAL
// mode file format" document). Comparing those bytes with a snapshot tells
// in a few nanoseconds whether anything was committed since, by this
// process or another; only then is PRAGMA data_version asked.
//
// The mapping is safe because SQLite truncates the -shm file only when the
// first connection opens the database, never while another connection
// (our pinned one) has it open.
type walHeader struct {
	mem   []byte
	words *[6]uint64
	snap  [6]atomic.Uint64
}

// mapWALHeader maps the header of the database's -shm file, or returns
// nil. The file it opens stays open until the database is closed: POSIX
// record locks belong to the process, and closing any descriptor of a
// file drops every one of them, SQLite's own lock on the -shm file
// included; another process (a CLI command beside serve) would then take
// itself for the file's only user and rebuild the wal-index under this
// one's connections.
func (d *DB) mapWALHeader(dbPath string) *walHeader {
	d.shmMu.Lock()
	defer d.shmMu.Unlock()
	if d.shm == nil {
		f, err := os.Open(dbPath + "-shm")
		if err != nil {
			return nil
		}
		d.shm = f
	}
	if st, err := d.shm.Stat(); err != nil || st.Size() < 4096 {
		return nil
	}
	mem, err := syscall.Mmap(int(d.shm.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return &walHeader{mem: mem, words: (*[6]uint64)(unsafe.Pointer(&mem[0]))}
}

// changed reports whether the header differs from the snapshot.
func (h *walHeader) changed() bool {
	for i := range h.words {
		if atomic.LoadUint64(&h.words[i]) != h.snap[i].Load() {
			return true
		}
	}
	return false
}

// read returns the header's current words.
func (h *walHeader) read() [6]uint64 {
	var w [6]uint64
	for i := range h.words {
		w[i] = atomic.LoadUint64(&h.words[i])
	}
	return w
}

// remember makes w the snapshot.
func (h *walHeader) remember(w [6]uint64) {
	for i := range w {
		h.snap[i].Store(w[i])
	}
}

func (h *walHeader) close() { syscall.Munmap(h.mem) }
