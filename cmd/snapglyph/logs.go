package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

const logsUsage = `logs --org ORG_ID [--key KEY_ID] [--status 401|4xx|…] [--code CODE] [--endpoint "GET /api/v1/usage"] [--ip IP] [--since 1h|RFC3339] [--until …] [--suspicious] [--limit N] [--json]`

// logs prints an organisation's API request log, newest first: a table,
// or one JSON object a line with --json. Entries are read and printed a
// thousand at a time, so --limit 0 (everything kept) works for any size.
func (e *env) logs(ctx context.Context, args []string) error {
	fs := e.flagSet("logs")
	dsn := e.dbFlag(fs)
	retention := fs.envString("request-log-retention", snapglyph.DefaultLogRetention().String(),
		"days the request log keeps entries, by plan, as serve has it (how far back --since may go)")
	org := fs.String("org", "", "the organisation's id")
	key := fs.String("key", "", "only this key's requests (revoked keys too)")
	status := fs.String("status", "", "only this status (401) or class (4xx)")
	code := fs.String("code", "", "only this error code, e.g. api_key_revoked")
	endpoint := fs.String("endpoint", "", `only this endpoint, e.g. "GET /api/v1/qr-codes/{id}" (or the route alone)`)
	ip := fs.String("ip", "", "only requests from this address")
	since := fs.String("since", "", "from this time: a duration ago (30m, 24h, 7d) or a time (2026-11-15T12:00:00Z, 2026-11-15); default: everything kept")
	until := fs.String("until", "", "up to this time (same forms as --since)")
	suspicious := fs.Bool("suspicious", false, "only suspicious requests: a key used while paused, revoked or expired, from a new address, or in a burst of refusals")
	limit := fs.Int("limit", 100, "print at most this many entries; 0: all of them")
	asJSON := fs.Bool("json", false, "print one JSON object a line")
	// A filter given empty is refused, not read as no filter: a script
	// whose key id came out empty would print every key's requests.
	for _, name := range []string{"key", "status", "code", "endpoint", "ip", "since", "until"} {
		fs.must(name, func(v string) error {
			if v == "" {
				return errors.New("empty: give a value, or leave the flag out")
			}
			return nil
		})
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := needArgs(pos, 0, logsUsage); err != nil {
		return err
	}
	if err := needFlags(fs, logsUsage, "org"); err != nil {
		return err
	}
	if *limit < 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, "--limit must be 0 (all) or positive, not %d", *limit)
	}
	policy, err := snapglyph.ParseLogRetention(*retention)
	if err != nil {
		return snapglyph.Errorf(snapglyph.EINVALID, "%s: %s", fs.name("request-log-retention"), snapglyph.ErrorMessage(err))
	}
	q := service.LogQuery{Key: *key, Status: *status, Code: *code, Endpoint: *endpoint, IP: *ip, From: *since, To: *until,
		Suspicious: *suspicious, Limit: *limit}
	return e.withService(ctx, *dsn, func(svc *service.Service) error {
		svc.LogRetention = policy
		n := 0
		err := svc.ExportRequestLog(ctx, snapglyph.Operator, *org, q, func(entry *snapglyph.RequestLogEntry) error {
			if *asJSON {
				return e.printJSON(service.EntryJSON(entry))
			}
			if n == 0 {
				fmt.Fprintf(e.stdout, "%-24s  %-24s  %-26s  %-6s  %-24s  %-6s  %-24s  %-15s  %8s  %s\n",
					"TIME", "REQUEST ID", "KEY", "METHOD", "ROUTE", "STATUS", "CODE", "IP", "MS", "SUSPICIOUS")
			}
			n++
			_, err := fmt.Fprintf(e.stdout, "%-24s  %-24s  %-26s  %-6s  %-24s  %-6d  %-24s  %-15s  %8.1f  %s\n",
				entry.At.UTC().Format("2006-01-02T15:04:05.000Z"), printable(entry.RequestID), printable(entry.KeyID), quoteOdd(entry.Method), printable(entry.Route),
				entry.Status, printable(cmp.Or(entry.Code, "-")), printable(entry.IP), float64(entry.Duration.Microseconds())/1000,
				cmp.Or(strings.Join(entry.Flags.Names(), ","), "-"))
			return err
		})
		if err != nil {
			return logsFlagError(err)
		}
		if n == 0 && !*asJSON {
			fmt.Fprintln(e.stderr, "no requests match")
		}
		return nil
	})
}

// quoteOdd quotes a value that is not plain printable ASCII, so a
// terminal shows it as text.
func quoteOdd(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// logsFlags are the flags of logs by the name the service gives the
// field in its errors (the Logs page's query parameters).
var logsFlags = map[string]string{"from": "--since", "to": "--until", "key": "--key", "status": "--status",
	"code": "--code", "endpoint": "--endpoint", "ip": "--ip", "limit": "--limit"}

// logsFlagError names the flag a refused filter came from: the service
// names its field ("from \"abc\" is not a time").
func logsFlagError(err error) error {
	var e *snapglyph.Error
	if !errors.As(err, &e) || e.Kind != snapglyph.EINVALID || len(e.Fields) == 0 {
		return err
	}
	flag, ok := logsFlags[e.Fields[0].Field]
	if !ok {
		return err
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "%s: %s", flag, e.Message)
}
