package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds what differs between SQLite and PostgreSQL.
type dialect struct {
	name string
	// dollar: placeholders are $1, $2, … instead of ?.
	dollar bool
}

var (
	sqlite   = dialect{name: "sqlite"}
	postgres = dialect{name: "postgres", dollar: true}
)

// rebind rewrites "?" placeholders to "$n" for PostgreSQL. Our SQL has no
// "?" inside string literals. Results are memoised by query text.
func (d *DB) rebind(query string) string {
	if !d.dialect.dollar {
		return query
	}
	if v, ok := d.rewritten.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	s := b.String()
	d.rewritten.Store(query, s)
	return s
}

// isUniqueViolation reports whether err is a unique-constraint failure.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isBusy reports whether err is SQLite's SQLITE_BUSY ("database is
// locked"), including its extended codes.
func isBusy(err error) bool {
	var c interface{ Code() int }
	if errors.As(err, &c) {
		return c.Code()&0xff == 5 // SQLITE_BUSY
	}
	return false
}

// IsUnavailable reports whether err (from any store method) means the
// database could not be reached.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u) || isUnavailable(err)
}

// isUnavailable reports whether err means the database could not be
// reached (as opposed to a query that failed).
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08: connection exception; 57P01..03: admin shutdown,
		// crash shutdown, cannot connect now; class 53: insufficient
		// resources, e.g. 53300 no connection slot left (max_connections
		// or the role's limit) — a retry succeeds once one is free.
		return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P") || strings.HasPrefix(pg.Code, "53")
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var lite *msqlite.Error
	if errors.As(err, &lite) {
		// Another writer (a backup, another process) held the database
		// past the busy timeout: a retry succeeds once it lets go.
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "driver: bad connection") || strings.Contains(msg, "conn closed") || strings.Contains(msg, "failed to connect")
}

// isDataError reports whether err is the database refusing a statement's
// data, which no retry can fix: PostgreSQL's SQLSTATE classes 22 (data
// exception: bad encoding, out of range) and 23 (integrity constraint
// violation); SQLite's constraint, type mismatch and too-big errors.
func isDataError(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23")
	}
	var lite *msqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
			return true
		}
	}
	return false
}
