package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/usage"
)

func (e *env) logger(format, name string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(e.stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, nil)), nil
	}
	return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s must be text or json", name)
}

// openDB opens the database and brings its schema up to date. A SQLite
// file that does not exist is made (serve, migrate); see openExisting.
func (e *env) openDB(ctx context.Context, dsn string) (*store.DB, error) {
	db, err := store.Open(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openExisting is openDB for the commands that read or change what a
// running service holds: a SQLite file that does not exist, or a
// PostgreSQL schema without SnapGlyph's tables, is refused, not made — a
// mistyped --db (or the default ./snapglyph.db in another directory, or
// a URL without the service's search_path) made an empty database, in
// which "key revoke" found no such key while the key stayed live.
func (e *env) openExisting(ctx context.Context, dsn string) (*store.DB, error) {
	if err := store.CheckDSN(dsn); err != nil {
		return nil, err
	}
	if file := missingSQLite(dsn); file != "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "no database at %s (no such file): give the file the service uses with --db or SNAPGLYPH_DB; snapglyph migrate --db %s makes a new one",
			quoteValue(file), quoteArg(file))
	}
	return e.openChecked(ctx, dsn, func(schema string) error {
		return snapglyph.Errorf(snapglyph.EINVALID, "no SnapGlyph database in PostgreSQL schema %s (it has no tables of SnapGlyph): give the URL the service uses, with its search_path, in --db or SNAPGLYPH_DB; snapglyph migrate --db URL makes one there",
			quoteValue(schema))
	})
}

// openChecked is openDB that first calls empty, on PostgreSQL, if the
// schema tables would be made in holds none of SnapGlyph's; an error
// from empty is returned and nothing is made.
func (e *env) openChecked(ctx context.Context, dsn string, empty func(schema string) error) (*store.DB, error) {
	if !store.IsPostgres(dsn) {
		return e.openDB(ctx, dsn)
	}
	db, err := store.Open(dsn)
	if err != nil {
		return nil, err
	}
	schema, ok, err := db.Installed(ctx)
	if err == nil && !ok {
		err = empty(schema)
	}
	if err == nil {
		err = db.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// missingSQLite returns the SQLite file dsn names if it does not exist
// (opening it would make it), and "" otherwise or for PostgreSQL.
func missingSQLite(dsn string) string {
	file := store.SQLitePath(dsn)
	if file == "" {
		return ""
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return file
	}
	return ""
}

func (e *env) migrate(ctx context.Context, args []string) error {
	fs := e.flagSet("migrate")
	dsn := e.dbFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := needArgs(pos, 0, "migrate [--db DB]"); err != nil {
		return err
	}
	db, err := e.openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "database is up to date")
	return db.Close()
}

// serve runs the service until ctx ends, then stops gracefully within
// --shutdown-timeout: it stops accepting requests, waits for those in
// flight (drainTimeout), returns unspent leases and flushes buffered usage
// and the request log in the time left before it returns.
func (e *env) serve(ctx context.Context, args []string) error {
	fs := e.flagSet("serve")
	addr := fs.envString("addr", "127.0.0.1:8080", "address to listen on")
	dsn := e.dbFlag(fs)
	flush := fs.envDuration("flush-interval", usage.DefaultInterval, "how often buffered usage and last-used data are written")
	cacheSize := fs.envInt("cache-size", auth.DefaultCacheSize, "how many API keys each node caches")
	maxBlock := fs.envInt("lease-block", meter.DefaultMaxBlock, "largest block of allowance a node leases at once")
	logFormat := fs.envString("log-format", "text", "log format: text or json")
	trusted := fs.envString("trusted-proxies", "", "comma-separated addresses or CIDR prefixes of load balancers whose X-Forwarded-For names the client, e.g. 10.0.0.0/8")
	publicURL := fs.envString("public-url", "", "the URL users reach the dashboard at, e.g. https://qr.example.com, for invitation links (default: the request's host)")
	signup := fs.envString("signup", "open", "open: anyone can sign up in the dashboard; closed: accounts come only from invitations and the CLI")
	planChanges := fs.envString("plan-changes", "operator", "how an Owner's plan change from the Subscription page takes effect: operator (a request the operator approves with org set-plan) or self-serve (at once)")
	metricsAddr := fs.envString("metrics-addr", "", "serve GET /metrics on this separate address instead of the public one, e.g. 127.0.0.1:9090")
	debugAddr := fs.envString("debug-addr", "", "if set, serve Go's profiler (/debug/pprof/) on this separate address, e.g. 127.0.0.1:6060")
	authFailures := fs.envInt("auth-failure-limit", server.DefaultAuthFailures, "failed API authentications a client address may make per minute (and at once) before they are answered 429; 0: no limit")
	logRequests := fs.envBool("log-requests", true, "log one line per request")
	requestLog := fs.envBool("request-log", true, "keep the API request log (every request that names a key, in the database; the dashboard's Logs page)")
	requestLogBuffer := fs.envInt("request-log-buffer", reqlog.DefaultMaxBuffer, "request log entries a node buffers while the database is slow or away; more are dropped and counted")
	requestLogInterval := fs.envDuration("request-log-interval", reqlog.DefaultInterval, "how often buffered request log entries are written")
	requestLogRetention := fs.envString("request-log-retention", snapglyph.DefaultLogRetention().String(), "days the request log keeps entries, by plan")
	smtpURL := fs.envString("smtp-url", "", "SMTP server for mail: smtp://user:password@host:587 (STARTTLS when the server offers it) or smtps://user:password@host:465 (TLS); empty: no mail, notices appear in the dashboard only")
	mailFrom := fs.envString("mail-from", "", `sender of mail, e.g. "SnapGlyph <noreply@example.com>" (with --smtp-url)`)
	scanKeys := fs.envString("secret-scanning-keys", "", "GitHub's secret-scanning public keys: a file or an https URL (https://api.github.com/meta/public_keys/secret_scanning); turns on POST /secret-scanning/github")
	webhookInsecure := fs.envBool("webhook-allow-insecure-local", false, "permit webhook endpoints on http:// and loopback addresses (local development and tests; other private addresses stay refused)")
	shutdownTimeout := fs.envDuration("shutdown-timeout", DefaultShutdownTimeout, "how long a stop (SIGTERM) may take in all: requests in flight get up to 60% of it, then unspent allowance, buffered usage and the request log are written in what remains; what cannot be written by then is logged and counted as lost. Keep it below the orchestrator's grace period (Kubernetes: 30s)")
	for _, name := range []string{"flush-interval", "cache-size", "lease-block", "request-log-buffer", "request-log-interval", "shutdown-timeout"} {
		fs.must(name, positive)
	}
	fs.must("auth-failure-limit", func(v string) error {
		if n, err := strconv.ParseInt(v, 0, strconv.IntSize); err == nil && n < 0 {
			return errors.New("must be 0 (no limit) or positive")
		}
		return nil // a value that is no number is refused for its type
	})
	fs.must("addr", hostPort)
	fs.must("metrics-addr", optional(hostPort))
	fs.must("debug-addr", optional(hostPort))
	fs.must("log-format", oneOf("text", "json"))
	fs.must("signup", oneOf("open", "closed"))
	fs.must("plan-changes", oneOf(string(service.PlanChangesOperator), string(service.PlanChangesSelfServe)))
	fs.must("request-log-retention", func(v string) error {
		_, err := snapglyph.ParseLogRetention(v)
		return plainError(err)
	})
	fs.must("public-url", optional(func(v string) error {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("must be an http or https URL")
		}
		return nil
	}))
	fs.must("trusted-proxies", func(v string) error {
		_, err := server.ParseTrustedProxies(v)
		return err
	})
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := needArgs(pos, 0, "serve [flags] (see snapglyph serve --help)"); err != nil {
		return err
	}
	// The SMTP URL may hold a password: messages name where it came
	// from, never its value.
	smtpSource := "--smtp-url"
	if _, fromEnv := fs.origin["smtp-url"]; fromEnv {
		smtpSource = envVar("smtp-url")
	}
	var mailer notify.Mailer
	switch {
	case *smtpURL != "":
		m, err := notify.NewSMTP(*smtpURL, *mailFrom)
		if err != nil {
			return snapglyph.Errorf(snapglyph.EINVALID, "%s: %s", smtpSource, snapglyph.ErrorMessage(err))
		}
		mailer = m
	case *mailFrom != "":
		return snapglyph.Errorf(snapglyph.EINVALID, "%s is set but --smtp-url is not: no mail would be sent", fs.name("mail-from"))
	}
	var keys *server.ScanKeys
	if *scanKeys != "" {
		var err error
		if keys, err = server.NewScanKeys(*scanKeys, nil); err != nil {
			return snapglyph.Errorf(snapglyph.EINVALID, "%s: %s", fs.name("secret-scanning-keys"), snapglyph.ErrorMessage(err))
		}
	}
	// The values were checked by parse (fs.must above).
	retention, err := snapglyph.ParseLogRetention(*requestLogRetention)
	if err != nil {
		return err
	}
	proxies, err := server.ParseTrustedProxies(*trusted)
	if err != nil {
		return err
	}
	log, err := e.logger(*logFormat, fs.name("log-format"))
	if err != nil {
		return err
	}
	db, err := e.openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if path := e.getenv("SNAPGLYPH_FAKE_TIME_FILE"); path != "" {
		db.Now = (&fileClock{path: path}).Now // tests only
		log.Warn("the clock is read from a file (SNAPGLYPH_FAKE_TIME_FILE): for tests only")
	}

	if keys != nil {
		// A file must be right from the start; a URL may be unreachable
		// for now: it is read again when a report arrives.
		if err := keys.Load(ctx); err != nil {
			if !strings.Contains(*scanKeys, "://") {
				return snapglyph.Errorf(snapglyph.EINVALID, "%s: %v", fs.name("secret-scanning-keys"), err)
			}
			log.Warn("secret scanning: the keys could not be read yet; they are read again when a report arrives", "err", err)
		}
	}

	// Every address is taken before the node is built, so one that
	// cannot be had stops serve with nothing left running (the listeners
	// taken so far are closed on return).
	ln, err := listen(fs.name("addr"), *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	// The separate listeners: /metrics, the profiler.
	var sideLn [2]net.Listener
	for i, side := range []struct{ flag, addr string }{{"metrics-addr", *metricsAddr}, {"debug-addr", *debugAddr}} {
		if side.addr == "" {
			continue
		}
		if sideLn[i], err = listen(fs.name(side.flag), side.addr); err != nil {
			return err
		}
		defer sideLn[i].Close()
	}

	mailBase := *publicURL
	if mailBase == "" {
		mailBase = "http://" + ln.Addr().String()
		if mailer != nil {
			log.Warn("links in mail point to " + mailBase + ": set --public-url to where users reach the dashboard")
		}
	}
	if mailer != nil {
		log.Info("mail is on", "smtp", mailer.(*notify.SMTP).String(), "from", *mailFrom)
	}

	n, err := node.New(ctx, db, node.Config{
		FlushInterval: *flush, CacheSize: *cacheSize, LeaseBlock: int64(*maxBlock), LogRequests: *logRequests,
		PrivateMetrics: *metricsAddr != "", SignupClosed: *signup == "closed", TrustedProxies: proxies,
		PlanChanges: service.PlanChangeMode(*planChanges),
		PublicURL:   *publicURL, AuthFailures: cmp.Or(*authFailures, -1),
		NoRequestLog: !*requestLog, RequestLogBuffer: *requestLogBuffer, RequestLogInterval: *requestLogInterval, RequestLogRetention: retention,
		Mailer: mailer, MailBaseURL: mailBase, SecretScanKeys: keys, WebhookAllowInsecureLocal: *webhookInsecure,
	}, log)
	if err != nil {
		return err
	}

	httpServer := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Request line and headers: 64 KiB is far above any real client
		// and keeps a huge URL from being read in full before its 414.
		MaxHeaderBytes: 64 << 10,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    2 * time.Minute,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	n.Start()

	for i, h := range []http.Handler{metricsOnly(n.Server.MetricsHandler()), debugHandler()} {
		if sideLn[i] == nil {
			continue
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(sideLn[i])
		defer srv.Close()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()
	kind := "sqlite"
	if db.Postgres() {
		kind = "postgres"
	}
	log.Info("listening", "addr", "http://"+ln.Addr().String(), "db", kind)

	var stopBy time.Time
	select {
	case err = <-serveErr:
		stopBy = time.Now().Add(*shutdownTimeout)
	case <-ctx.Done():
		stopBy = time.Now().Add(*shutdownTimeout)
		drain := drainTimeout(*shutdownTimeout)
		log.Info("shutting down", "timeout", shutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), drain)
		err = httpServer.Shutdown(sctx)
		cancel()
		if err != nil {
			log.Warn("requests still in flight at the end of the drain; stopping without them", "drain", drain.String())
			err = fmt.Errorf("requests still in flight after %s (%s): %w", drain, fs.name("shutdown-timeout"), err)
		}
	}
	// Requests are done: give back unspent allowance and write the
	// buffered usage and request log, tried again while the database is
	// away until the stop's budget is spent (see node.Shutdown).
	wctx, cancel := context.WithDeadline(context.Background(), stopBy)
	n.Shutdown(wctx)
	cancel()
	log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// DefaultShutdownTimeout is serve's --shutdown-timeout: a stop fits in
// Kubernetes' default termination grace period (30 s), with time to spare
// for the process to exit before the kubelet's SIGKILL.
const DefaultShutdownTimeout = 25 * time.Second

// drainTimeout is how long a stop with the budget given waits for the
// requests in flight: 60% of it (15 s of the default 25 s), so that giving
// back allowance and writing the buffered usage and request log get the
// rest, at least 40% (10 s), and the whole stays within the budget.
func drainTimeout(budget time.Duration) time.Duration {
	return budget * 3 / 5
}

// listen opens a TCP listener on addr, with an error the operator can act
// on that names the setting (name: fs.name of the flag).
func listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s: cannot listen there: %v", name, err)
	}
	return ln, nil
}

// The checks of serve's settings beyond their types (flags.must).

func positive(v string) error {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return nil
	}
	if n, err := strconv.ParseInt(v, 0, strconv.IntSize); err == nil && n > 0 {
		return nil
	}
	return errors.New("must be positive")
}

func oneOf(choices ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(choices, v) {
			return nil
		}
		return fmt.Errorf("must be %s", strings.Join(choices, " or "))
	}
}

// hostPort checks an address to listen on: host:port, the host may be
// empty (every interface) and the port 0 (any free one), a number up to
// 65535 or a service's name.
func hostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err == nil && port != "" {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil || port == "" {
		return errors.New("must be host:port, e.g. 127.0.0.1:8080, with a port from 0 to 65535")
	}
	return nil
}

// optional lets the empty value (the setting off) pass check.
func optional(check func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return check(v)
	}
}

// plainError is err's message for users, without its kind.
func plainError(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(snapglyph.ErrorMessage(err))
}
