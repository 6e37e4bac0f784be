// Package store keeps SnapGlyph's data in SQLite (the embedded default) or
// PostgreSQL (production). Both run the same SQL text, written with "?"
// placeholders; dialect.go holds the few differences.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

//go:embed migrations
var migrations embed.FS

// DB is a handle on the database. Its methods are safe for concurrent use.
type DB struct {
	db      *sql.DB
	dialect dialect
	dsn     string

	// Now returns the current time; tests replace it.
	Now func() time.Time

	// rewritten holds SQL texts translated for the dialect, by source text.
	rewritten sync.Map

	// logoReads counts the queries that read a QR code's logo column.
	logoReads atomic.Int64
	// statements counts the statements sent through the helpers below.
	statements atomic.Int64

	// shm is SQLite's -shm file as the versioner opened it to map its
	// header, kept open until Close (see mapWALHeader).
	shmMu sync.Mutex
	shm   *os.File
}

// Statements returns how many SQL statements this DB has sent through its
// query helpers (transactions' included), for tests that bound the round
// trips of an operation.
func (d *DB) Statements() int64 { return d.statements.Load() }

// Open opens the database named by dsn: a postgres:// or postgresql:// URL
// selects PostgreSQL, anything else is a SQLite file path. It does not
// migrate; call Migrate.
func Open(dsn string) (*DB, error) {
	if dsn == "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "no database given")
	}
	if err := CheckDSN(dsn); err != nil {
		return nil, err
	}
	d := &DB{dsn: dsn, Now: time.Now}
	var err error
	if IsPostgres(dsn) {
		d.dialect = postgres
		d.db, err = sql.Open("pgx", withConnectTimeout(dsn))
		if err == nil {
			d.db.SetMaxOpenConns(20)
			d.db.SetMaxIdleConns(20)
			d.db.SetConnMaxIdleTime(5 * time.Minute)
		}
	} else {
		d.dialect = sqlite
		d.db, err = sql.Open("sqlite", sqliteDSN(dsn))
		if err == nil {
			// Readers run concurrently under WAL; writers take the lock
			// at BEGIN (_txlock=immediate) and wait busy_timeout for it.
			d.db.SetMaxOpenConns(8)
			d.db.SetMaxIdleConns(8)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.connect(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	return d, nil
}

// connect makes the first connection. On SQLite, processes that open a
// new file at the same moment may all try to switch it to WAL, which
// takes an exclusive lock: SQLite refuses one of two such upgrades at once
// with SQLITE_BUSY without waiting (it would deadlock), so a busy first
// connection is retried until ctx ends.
func (d *DB) connect(ctx context.Context) error {
	if d.dialect == postgres {
		if err := d.db.PingContext(ctx); err != nil {
			return fmt.Errorf("store: connect to PostgreSQL: %w", err)
		}
		return nil
	}
	file := sqlitePath(d.dsn)
	wait := 5 * time.Millisecond
	for {
		err := d.db.PingContext(ctx)
		if err == nil {
			return nil
		}
		if !isBusy(err) || ctx.Err() != nil {
			if cause := checkSQLitePath(file); cause != nil {
				err = cause
			}
			return fmt.Errorf("store: open SQLite database %q: %w", file, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: open SQLite database %q: %w", file, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// CheckDSN refuses a database name Open would misread: a libpq
// "host=… dbname=…" string would otherwise name a SQLite file, its
// password in the file's name. The message does not repeat it.
func CheckDSN(dsn string) error {
	if !IsPostgres(dsn) && keywordDSN.MatchString(dsn) {
		return snapglyph.Errorf(snapglyph.EINVALID,
			"the database looks like a PostgreSQL keyword=value connection string; give PostgreSQL as a URL: postgres://user:password@host:5432/dbname")
	}
	return nil
}

// keywordDSN matches a libpq keyword=value connection string: a known
// keyword, an equals sign, and another keyword after a space.
var keywordDSN = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode)\s*=\S*\s+\w+\s*=`)

// SQLitePath is the file a database that is not PostgreSQL names; "" for
// PostgreSQL.
func SQLitePath(dsn string) string {
	if IsPostgres(dsn) {
		return ""
	}
	return sqlitePath(dsn)
}

// sqlitePath is the file a SQLite DSN names.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "file:")
}

// checkSQLitePath explains why SQLite cannot open file in the operating
// system's words (SQLite itself says only "unable to open database
// file"): a missing directory, a directory in its place, a parent that is
// a file, no permission. It creates nothing and returns nil when the path
// looks usable.
func checkSQLitePath(file string) error {
	if st, err := os.Stat(file); err == nil {
		if st.IsDir() {
			return fmt.Errorf("%s is a directory", file)
		}
		f, err := os.OpenFile(file, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		f.Close()
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(file)
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	// The directory must take the database and its -wal and -shm files.
	probe, err := os.CreateTemp(dir, ".snapglyph-probe-*")
	if err != nil {
		return err
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// withConnectTimeout bounds how long a connection attempt may take, so a
// database that does not answer fails requests fast instead of hanging
// them.
func withConnectTimeout(dsn string) string {
	if strings.Contains(dsn, "connect_timeout=") {
		return dsn
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&connect_timeout=3"
	}
	return dsn + "?connect_timeout=3"
}

// sqliteDSN turns a file path into a modernc.org/sqlite DSN with the
// pragmas every connection needs: WAL so readers never block the writer,
// foreign keys on (off by default in SQLite), a busy timeout instead of
// immediate SQLITE_BUSY errors, and synchronous=FULL so an acknowledged
// commit survives a power cut as well as a crash.
func sqliteDSN(path string) string {
	if strings.HasPrefix(path, "file:") {
		return path
	}
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_txlock=immediate"
}

// Close closes the database, then the -shm file it mapped, if any: its
// locks go with the connections.
func (d *DB) Close() error {
	err := d.db.Close()
	d.shmMu.Lock()
	if d.shm != nil {
		d.shm.Close()
		d.shm = nil
	}
	d.shmMu.Unlock()
	return err
}

// Postgres reports whether the database is PostgreSQL.
func (d *DB) Postgres() bool { return d.dialect == postgres }

// DSN returns the data source the database was opened with.
func (d *DB) DSN() string { return d.dsn }

// SQL returns the underlying handle, for health checks and metrics.
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks that the database answers within ctx.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

func (d *DB) now() time.Time { return d.Now() }

// Migrate applies the embedded migrations that have not run yet, each in
// its own transaction, and records them in schema_migrations. Any number
// of processes may migrate the same database at once: on PostgreSQL every
// step, the creation of schema_migrations included, runs under one
// transaction-scoped advisory lock (two concurrent CREATE TABLE IF NOT
// EXISTS of the same table fail with a unique violation in pg_type); on
// SQLite every step is a write transaction (_txlock=immediate), which
// SQLite serialises.
func (d *DB) Migrate(ctx context.Context) error {
	err := d.tx(ctx, func(tx *Tx) error {
		if err := tx.lockMigrations(ctx); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`)
		return err
	})
	if isNoSchema(err) {
		return d.noSchema(ctx)
	} else if err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	dir := "migrations/" + d.dialect.name
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := d.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("store: migration %s failed: %w", path.Base(name), err)
		}
	}
	return nil
}

// Installed reports, on PostgreSQL, the schema SnapGlyph's tables are in
// or would be made in (the first schema of search_path that exists) and
// whether they are there (it was migrated). A search_path naming no
// schema that exists is an error that says so. On SQLite it reports
// true: a file is told apart by whether it exists.
func (d *DB) Installed(ctx context.Context) (schema string, ok bool, err error) {
	if d.dialect != postgres {
		return "", true, nil
	}
	var current sql.NullString
	err = d.queryRow(ctx, `SELECT current_schema(),
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations')`).Scan(&current, &ok)
	if err != nil {
		return "", false, fmt.Errorf("store: read the PostgreSQL schema: %w", err)
	}
	if !current.Valid {
		return "", false, d.noSchema(ctx)
	}
	return current.String, ok, nil
}

// noSchema is the error for a search_path that names no schema that
// exists (PostgreSQL's own, "no schema has been selected to create in",
// does not name it).
func (d *DB) noSchema(ctx context.Context) error {
	var path string
	if err := d.queryRow(ctx, `SELECT current_setting('search_path')`).Scan(&path); err != nil {
		return fmt.Errorf("store: read the PostgreSQL search_path: %w", err)
	}
	return snapglyph.Errorf(snapglyph.EINVALID,
		"PostgreSQL: no schema of search_path %q exists in this database: make it (CREATE SCHEMA …) or correct search_path in the URL", snapglyph.Storable(path, 200))
}

// isNoSchema reports whether err is PostgreSQL finding no schema to
// create a table in (SQLSTATE 3F000, invalid_schema_name).
func isNoSchema(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "3F000"
}

// migrationLock is the PostgreSQL advisory lock held while migrating,
// keyed by schema: deployments (and tests) in other schemas of the same
// database do not wait for each other.
const migrationLock = 7261001

// lockMigrations makes the transaction the only one migrating until it
// ends (PostgreSQL; SQLite's write transactions are serial already).
func (tx *Tx) lockMigrations(ctx context.Context) error {
	if tx.db.dialect != postgres {
		return nil
	}
	_, err := tx.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, migrationLock)
	return err
}

func (d *DB) migrateFile(ctx context.Context, name string) error {
	return d.tx(ctx, func(tx *Tx) error {
		if err := tx.lockMigrations(ctx); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		} else if n > 0 {
			return nil
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name)
		return err
	})
}

// Tx is a transaction with the dialect's placeholder rewriting.
type Tx struct {
	tx  *sql.Tx
	db  *DB
	now time.Time
	// changes are the change-log entries recordChange keeps for the
	// commit (see writeChanges).
	changes []snapglyph.Change
}

// tx runs fn in a transaction and commits it if fn returns nil.
func (d *DB) tx(ctx context.Context, fn func(*Tx) error) error {
	stx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return formatError(err)
	}
	// The transaction's time as it is stored (milliseconds): what a
	// change returns is then what a later read gives.
	tx := &Tx{tx: stx, db: d, now: fromMS(ms(d.now()))}
	if err := fn(tx); err != nil {
		stx.Rollback()
		return formatError(err)
	}
	if err := tx.writeChanges(ctx); err != nil {
		stx.Rollback()
		return formatError(err)
	}
	if err := stx.Commit(); err != nil {
		return formatError(err)
	}
	return nil
}

// Exec runs a statement written with "?" placeholders.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx.db.statements.Add(1)
	return tx.tx.ExecContext(ctx, tx.db.rebind(query), cleanArgs(args)...)
}

// Query runs a query written with "?" placeholders.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx.db.statements.Add(1)
	return tx.tx.QueryContext(ctx, tx.db.rebind(query), cleanArgs(args)...)
}

// QueryRow runs a query written with "?" placeholders.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	tx.db.statements.Add(1)
	return tx.tx.QueryRowContext(ctx, tx.db.rebind(query), cleanArgs(args)...)
}

func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.statements.Add(1)
	return d.db.QueryContext(ctx, d.rebind(query), cleanArgs(args)...)
}

func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	d.statements.Add(1)
	return d.db.QueryRowContext(ctx, d.rebind(query), cleanArgs(args)...)
}

func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	d.statements.Add(1)
	return d.db.ExecContext(ctx, d.rebind(query), cleanArgs(args)...)
}

// formatError translates driver errors into application errors: no rows
// become ENOTFOUND, a database that cannot be reached EUNAVAILABLE.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var e *snapglyph.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return snapglyph.Errorf(snapglyph.ENOTFOUND, "not found")
	}
	if isUnavailable(err) {
		return &unavailableError{err}
	}
	return err
}

// unavailableError marks a failure to reach the database. It carries the
// driver error for the log and shows users only EUNAVAILABLE.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "store: database unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{e.err, snapglyph.Errorf(snapglyph.EUNAVAILABLE, "the database is unavailable; try again in a few seconds")}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
