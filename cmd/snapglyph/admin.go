package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// printJSON writes v as one JSON line.
func (e *env) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

func needArgs(pos []string, n int, usage string) error {
	if len(pos) != n {
		return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph %s", usage)
	}
	return nil
}

func (e *env) withService(ctx context.Context, dsn string, fn func(*service.Service) error) error {
	db, err := e.openDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(service.New(db))
}

// unconfirmed collects what a command's changes were not confirmed by:
// the ids of the nodes that did not apply them in time, and whether
// confirming failed altogether.
type unconfirmed struct {
	nodes  []string
	failed error
	any    bool
}

// watchUnconfirmed makes svc report to the returned collector.
func watchUnconfirmed(svc *service.Service) *unconfirmed {
	u := &unconfirmed{}
	svc.Unconfirmed = func(c service.Unconfirmed) {
		u.any = true
		u.nodes = append(u.nodes, c.Nodes...)
		if c.Err != nil {
			u.failed = c.Err
		}
	}
	return u
}

// list returns the node ids, sorted and unique, never nil (so JSON
// shows an empty list when every node confirmed).
func (u *unconfirmed) list() []string {
	out := slices.Clone(u.nodes)
	slices.Sort(out)
	return append([]string{}, slices.Compact(out)...)
}

// warn prints one line to stderr when the change is not confirmed
// everywhere: it is committed, but some node may still serve the old state
// for a moment.
func (e *env) warnUnconfirmed(u *unconfirmed) {
	if !u.any {
		return
	}
	switch {
	case len(u.nodes) > 0:
		fmt.Fprintf(e.stderr, "warning: the change is committed, but %d node(s) did not confirm it within %s: %s\n",
			len(u.list()), service.ApplyTimeout, strings.Join(u.list(), ", "))
	default:
		fmt.Fprintf(e.stderr, "warning: the change is committed, but whether every node applied it is unknown: %v\n", u.failed)
	}
}

func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type orgJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Plan        string     `json:"plan"`
	TrialEndsAt *time.Time `json:"trialEndsAt,omitempty"`
	Owner       *struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"owner,omitempty"`
	APICallsLimit     int64     `json:"apiCallsLimit"`
	ImageCreditsLimit int64     `json:"imageCreditsLimit"`
	CreatedAt         time.Time `json:"createdAt"`
}

func (e *env) org(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph org create|set-plan|set-limits …")
	}
	switch args[0] {
	case "create":
		fs := e.flagSet("org create")
		dsn := e.dbFlag(fs)
		name := fs.String("name", "", "the organisation's name")
		email := fs.String("owner-email", "", "the Owner's email; the Owner signs in to the dashboard with it")
		plan := fs.String("plan", "trial", "starter, trial (14 days of Pro), pro or max")
		pwStdin := fs.Bool("password-stdin", false, "read the Owner's dashboard password from the first line of standard input")
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 0, "org create --name NAME --owner-email EMAIL [--plan PLAN] [--password-stdin] [--json]"); err != nil {
			return err
		}
		var password string
		if *pwStdin {
			line, err := bufio.NewReader(e.stdin).ReadString('\n')
			if err != nil && line == "" {
				return snapglyph.Errorf(snapglyph.EINVALID, "--password-stdin: no password on standard input")
			}
			password = strings.TrimRight(line, "\r\n")
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: *name, OwnerEmail: *email, Plan: *plan, Password: password})
			if err != nil {
				return err
			}
			out := toOrgJSON(org)
			out.Owner = &struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			}{owner.ID, owner.Email}
			if *asJSON {
				return e.printJSON(out)
			}
			fmt.Fprintf(e.stdout, "created organisation %s (%s, plan %s), Owner %s\n", org.ID, org.Name, org.Plan, owner.Email)
			return nil
		})
	case "set-plan":
		fs := e.flagSet("org set-plan")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 2, "org set-plan ORG_ID starter|trial|pro|max"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			if err := svc.SetPlan(ctx, snapglyph.Operator, pos[0], pos[1]); err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			if *asJSON {
				return e.printJSON(orgChangeJSON{ID: pos[0], Plan: strings.ToLower(pos[1]), UnconfirmedNodes: unc.list()})
			}
			fmt.Fprintf(e.stdout, "organisation %s is now on the %s plan\n", pos[0], strings.ToLower(pos[1]))
			return nil
		})
	case "set-limits":
		fs := e.flagSet("org set-limits")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		calls := fs.String("api-calls", "", "monthly API calls")
		credits := fs.String("image-credits", "", "monthly image credits")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, "org set-limits ORG_ID [--api-calls N] [--image-credits N]"); err != nil {
			return err
		}
		c, err := optInt("--api-calls", *calls)
		if err != nil {
			return err
		}
		ic, err := optInt("--image-credits", *credits)
		if err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			if err := svc.SetLimits(ctx, snapglyph.Operator, pos[0], c, ic); err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			if *asJSON {
				return e.printJSON(orgChangeJSON{ID: pos[0], UnconfirmedNodes: unc.list()})
			}
			fmt.Fprintf(e.stdout, "limits of organisation %s updated\n", pos[0])
			return nil
		})
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown org command %q: use create, set-plan or set-limits", args[0])
}

func optInt(name, s string) (*int64, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s must be a whole number, not %q", name, s)
	}
	return &n, nil
}

func toOrgJSON(o *snapglyph.Org) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Plan: string(o.Plan), TrialEndsAt: timeJSON(o.TrialEndsAt),
		APICallsLimit: o.APICallLimit(), ImageCreditsLimit: o.ImageCreditLimit(), CreatedAt: o.CreatedAt}
}

type keyJSON struct {
	ID                string     `json:"id"`
	Key               string     `json:"key,omitempty"`
	Name              string     `json:"name"`
	Prefix            string     `json:"prefix"`
	OrgID             string     `json:"orgId"`
	Status            string     `json:"status"`
	CreatedAt         time.Time  `json:"createdAt"`
	CreatedBy         string     `json:"createdBy"`
	LastUsedAt        *time.Time `json:"lastUsedAt"`
	LastUsedIP        string     `json:"lastUsedIp,omitempty"`
	LastUsedUserAgent string     `json:"lastUsedUserAgent,omitempty"`
	RevokedAt         *time.Time `json:"revokedAt,omitempty"`
	Hint              string     `json:"hint,omitempty"`
}

// keyChangeJSON is a key after pause, resume or revoke, with the nodes
// that did not confirm the change in time (empty: in force everywhere).
type keyChangeJSON struct {
	keyJSON
	UnconfirmedNodes []string `json:"unconfirmedNodes"`
}

// orgChangeJSON is the result of org set-plan and set-limits.
type orgChangeJSON struct {
	ID               string   `json:"id"`
	Plan             string   `json:"plan,omitempty"`
	UnconfirmedNodes []string `json:"unconfirmedNodes"`
}

func toKeyJSON(k *snapglyph.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, OrgID: k.OrgID, Status: string(k.Status),
		CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, LastUsedAt: timeJSON(k.LastUsedAt),
		LastUsedIP: k.LastUsedIP, LastUsedUserAgent: k.LastUsedUA, RevokedAt: timeJSON(k.RevokedAt)}
}

func (e *env) key(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph key create|list|pause|resume|revoke …")
	}
	switch args[0] {
	case "create":
		fs := e.flagSet("key create")
		dsn := e.dbFlag(fs)
		org := fs.String("org", "", "the organisation's id")
		name := fs.String("name", "", "where the key is used, e.g. Production-WebApp (1-64 characters)")
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 0, "key create --org ORG_ID --name NAME [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			k, err := svc.CreateKey(ctx, snapglyph.Operator, *org, *name)
			if err != nil {
				return err
			}
			if *asJSON {
				out := toKeyJSON(k.APIKey)
				out.Key, out.Hint = k.Secret, k.Hint
				return e.printJSON(out)
			}
			fmt.Fprintf(e.stdout, "%s\n\nThis is the only time the key is shown: store it now (an environment variable or a secret manager).\nid %s, name %s\n", k.Secret, k.ID, k.Name)
			if k.Hint != "" {
				fmt.Fprintln(e.stderr, "hint:", k.Hint)
			}
			return nil
		})
	case "list":
		fs := e.flagSet("key list")
		dsn := e.dbFlag(fs)
		org := fs.String("org", "", "the organisation's id")
		all := fs.Bool("all", false, "include revoked keys")
		asJSON := fs.Bool("json", false, "print one JSON line per key")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 0, "key list --org ORG_ID [--all] [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			keys, err := svc.Keys(ctx, snapglyph.Operator, *org, *all)
			if err != nil {
				return err
			}
			if *asJSON {
				for _, k := range keys {
					if err := e.printJSON(toKeyJSON(k)); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tSTATUS")
			for _, k := range keys {
				last := "Never"
				if !k.LastUsedAt.IsZero() {
					last = fmt.Sprintf("%s from %s", k.LastUsedAt.Format(time.RFC3339), k.LastUsedIP)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s...\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.CreatedAt.Format(time.RFC3339), last, displayStatus(k.Status))
			}
			return tw.Flush()
		})
	case "pause", "resume", "revoke":
		verb := args[0]
		fs := e.flagSet("key " + verb)
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the key as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, "key "+verb+" KEY_ID"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			do := map[string]func(context.Context, snapglyph.Actor, string) (*snapglyph.APIKey, error){
				"pause": svc.PauseKey, "resume": svc.ResumeKey, "revoke": svc.RevokeKey,
			}[verb]
			unc := watchUnconfirmed(svc)
			k, err := do(ctx, snapglyph.Operator, pos[0])
			if err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			if *asJSON {
				return e.printJSON(keyChangeJSON{keyJSON: toKeyJSON(k), UnconfirmedNodes: unc.list()})
			}
			fmt.Fprintf(e.stdout, "key %s (%s, %s...) is now %s\n", k.ID, k.Name, k.Prefix, k.Status)
			return nil
		})
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown key command %q: use create, list, pause, resume or revoke", args[0])
}

// displayStatus is the status as the dashboard shows it.
func displayStatus(s snapglyph.KeyStatus) string {
	switch s {
	case snapglyph.KeyActive:
		return "Active"
	case snapglyph.KeyPaused:
		return "Inactive"
	}
	return "Revoked"
}
