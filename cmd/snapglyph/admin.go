package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// printJSON writes v as one JSON line, with the characters printable
// escapes written as \u escapes (escapeHidden).
func (e *env) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", escapeHidden(b))
	return err
}

// escapeHidden writes the invisible characters of a JSON text that
// encoding/json leaves as they are (DEL, the C1 controls such as the
// 8-bit CSI U+009B, format characters such as U+202E) as \u escapes: the
// line goes to a terminal as often as to a program, and a JSON reader
// gets the same strings back. (encoding/json escapes the C0 controls, and
// U+2028 and U+2029, itself.) Such characters only occur inside strings,
// where an escape is valid. Text of ASCII alone is returned as it is.
func escapeHidden(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := append(make([]byte, 0, len(b)+16), b[:i]...)
	for rest := b[i:]; len(rest) > 0; {
		r, n := utf8.DecodeRune(rest)
		if !snapglyph.Hidden(r) {
			out = append(out, rest[:n]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, "\\u%04x\\u%04x", r1, r2) // beyond U+FFFF: a surrogate pair
		} else {
			out = fmt.Appendf(out, "\\u%04x", r)
		}
		rest = rest[n:]
	}
	return out
}

func needArgs(pos []string, n int, usage string) error {
	switch {
	case len(pos) > n:
		return snapglyph.Errorf(snapglyph.EINVALID, "unexpected argument %s; usage: snapglyph %s", quoteValue(pos[n]), usage)
	case len(pos) < n:
		return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph %s", usage)
	}
	return nil
}

// needFlags refuses a command whose flag of names is missing or empty,
// naming it: "--org is required" says more than the service's "no
// organisation has the id \"\"".
func needFlags(fs *flags, usage string, names ...string) error {
	for _, name := range names {
		if fs.Lookup(name).Value.String() == "" {
			return snapglyph.Errorf(snapglyph.EINVALID, "--%s is required: usage: snapglyph %s", name, usage)
		}
	}
	return nil
}

// withService runs fn with the service on an existing database
// (openExisting).
func (e *env) withService(ctx context.Context, dsn string, fn func(*service.Service) error) error {
	db, err := e.openExisting(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(service.New(db))
}

// withNewService is withService for org create, the first command on a
// new machine: a SQLite file that does not exist, or SnapGlyph's tables
// in an empty PostgreSQL schema, are made, and standard error says so (a
// mistyped --db shows at once).
func (e *env) withNewService(ctx context.Context, dsn string, fn func(*service.Service) error) error {
	file := missingSQLite(dsn)
	made := ""
	db, err := e.openChecked(ctx, dsn, func(schema string) error {
		made = "in PostgreSQL schema " + quoteValue(schema)
		return nil
	})
	if err != nil {
		return err
	}
	defer db.Close()
	if file != "" {
		made = "at " + quoteValue(file)
	}
	if made != "" {
		fmt.Fprintf(e.stderr, "made a new database %s\n", made)
	}
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
			len(u.list()), service.ApplyTimeout, printable(strings.Join(u.list(), ", ")))
	default:
		fmt.Fprintf(e.stderr, "warning: the change is committed, but whether every node applied it is unknown: %s\n", oneLine(fmt.Sprint(u.failed)))
	}
}

func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ownerJSON is an organisation's Owner.
type ownerJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

type orgJSON struct {
	ID                string     `json:"id"`
	Name              string     `json:"name"`
	Plan              string     `json:"plan"`
	TrialEndsAt       *time.Time `json:"trialEndsAt,omitempty"`
	Owner             *ownerJSON `json:"owner,omitempty"` // org create and org show
	APICallsLimit     int64      `json:"apiCallsLimit"`
	ImageCreditsLimit int64      `json:"imageCreditsLimit"`
	CreatedAt         time.Time  `json:"createdAt"`
}

func (e *env) org(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph org create|list|show|set-plan|set-limits|set-owner|requests …")
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
		const usage = "org create --name NAME --owner-email EMAIL [--plan PLAN] [--password-stdin] [--json]"
		if err := needArgs(pos, 0, usage); err != nil {
			return err
		}
		if err := needFlags(fs, usage, "owner-email"); err != nil {
			return err
		}
		var password string
		if *pwStdin {
			if password, err = e.readPassword("org create --name NAME --owner-email EMAIL --password-stdin"); err != nil {
				return err
			}
		}
		return e.withNewService(ctx, *dsn, func(svc *service.Service) error {
			org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: *name, OwnerEmail: *email, Plan: *plan, Password: password})
			if err != nil {
				return err
			}
			out := toOrgJSON(org)
			out.Owner = &ownerJSON{owner.ID, owner.Email}
			if *asJSON {
				return e.printJSON(out)
			}
			fmt.Fprintf(e.stdout, "created organisation %s (%s, plan %s), Owner %s\n", org.ID, printable(org.Name), org.Plan, printable(owner.Email))
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
		if err := needArgs(pos, 2, "org set-plan ORG_ID starter|trial|pro|max [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			// The organisation's pending request, which set-plan closes:
			// approved if it asked for this plan, superseded otherwise.
			pending, err := svc.PlanRequests(ctx, snapglyph.Operator, false)
			if err != nil {
				return err
			}
			unc := watchUnconfirmed(svc)
			if err := svc.SetPlan(ctx, snapglyph.Operator, pos[0], pos[1]); err != nil {
				return err
			}
			plan, _ := snapglyph.ParsePlan(pos[1]) // the name as stored (" MAX " is max)
			e.warnUnconfirmed(unc)
			org, err := svc.Subscription(ctx, snapglyph.Operator, pos[0])
			if err != nil {
				return err
			}
			limits := toOrgLimitsJSON(org)
			if limits.Warning = overrideWarning(org); limits.Warning != "" {
				fmt.Fprintf(e.stderr, "warning: %s\n", limits.Warning)
			}
			var closed *snapglyph.PlanRequest
			for _, p := range pending {
				if p.OrgID == pos[0] {
					closed = p
				}
			}
			if *asJSON {
				out := orgChangeJSON{ID: pos[0], Plan: string(plan), orgLimitsJSON: limits, UnconfirmedNodes: unc.list()}
				if closed != nil {
					out.ClosedRequest = closed.ID
				}
				return e.printJSON(out)
			}
			fmt.Fprintf(e.stdout, "organisation %s is now on the %s plan\n", pos[0], plan)
			if closed != nil {
				verb := "approved"
				if closed.Plan != plan {
					verb = "superseded (it asked for " + string(closed.Plan) + ")"
				}
				fmt.Fprintf(e.stdout, "the Owner's request %s is %s\n", closed.ID, verb)
			}
			return nil
		})
	case "requests":
		fs := e.flagSet("org requests")
		dsn := e.dbFlag(fs)
		all := fs.Bool("all", false, "include closed requests (approved, superseded, refused, cancelled)")
		refuse := fs.String("refuse", "", "refuse the pending request with this id (approve one with org set-plan ORG_ID PLAN)")
		reason := fs.String("reason", "", "with --refuse: why, shown to the Owner on the Subscription page (at most 200 characters)")
		asJSON := fs.Bool("json", false, "print one JSON line per request")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 0, "org requests [--all] [--json] | org requests --refuse REQUEST_ID [--reason TEXT] [--json]"); err != nil {
			return err
		}
		if *refuse == "" && flagSet(fs, "reason") {
			return snapglyph.Errorf(snapglyph.EINVALID, "--reason goes with --refuse REQUEST_ID")
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			if *refuse != "" {
				p, err := svc.RefusePlanRequest(ctx, snapglyph.Operator, *refuse, *reason)
				if err != nil {
					return err
				}
				if *asJSON {
					return e.printJSON(toPlanRequestJSON(p))
				}
				fmt.Fprintf(e.stdout, "refused request %s of organisation %s (%s) to change to %s\n", p.ID, p.OrgID, printable(p.OrgName), p.Plan)
				return nil
			}
			list, err := svc.PlanRequests(ctx, snapglyph.Operator, *all)
			if err != nil {
				return err
			}
			if *asJSON {
				for _, p := range list {
					if err := e.printJSON(toPlanRequestJSON(p)); err != nil {
						return err
					}
				}
				return nil
			}
			if len(list) == 0 && !*all {
				fmt.Fprintln(e.stdout, "no plan change is waiting")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tORG\tNAME\tFROM\tTO\tREQUESTED BY\tREQUESTED AT\tSTATUS")
			for _, p := range list {
				status := string(p.Status)
				if p.Note != "" {
					status += ": " + printable(p.Note)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.OrgID, printable(p.OrgName), p.From, p.Plan, printable(p.ByLabel), p.CreatedAt.Format(time.RFC3339), status)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if !*all {
				fmt.Fprintln(e.stdout, "approve: snapglyph org set-plan ORG_ID PLAN · refuse: snapglyph org requests --refuse ID [--reason TEXT]")
			}
			return nil
		})
	case "list", "show":
		fs := e.flagSet("org " + args[0])
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print one JSON line per organisation")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		usage, n := "org list [--json]", 0
		if args[0] == "show" {
			usage, n = "org show ORG_ID [--json]", 1
		}
		if err := needArgs(pos, n, usage); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			period, resets := snapglyph.Period(time.Now())
			var orgs []snapglyph.OrgUsage
			var owner *ownerJSON // org show's
			if args[0] == "show" {
				org, err := svc.Subscription(ctx, snapglyph.Operator, pos[0])
				if err != nil {
					return err
				}
				used, err := svc.Spent(ctx, snapglyph.Operator, org.ID, period)
				if err != nil {
					return err
				}
				members, err := svc.Members(ctx, snapglyph.Operator, org.ID)
				if err != nil {
					return err
				}
				for _, m := range members {
					if m.Role == snapglyph.RoleOwner {
						owner = &ownerJSON{m.ID, m.Email}
					}
				}
				orgs = []snapglyph.OrgUsage{{Org: org, Used: used}}
			} else if orgs, err = svc.Orgs(ctx, snapglyph.Operator, period); err != nil {
				return err
			}
			if *asJSON {
				for _, o := range orgs {
					out := orgUsageJSON{toOrgJSON(o.Org), toUsageJSON(o, period, resets)}
					out.Owner = owner
					if err := e.printJSON(out); err != nil {
						return err
					}
				}
				return nil
			}
			if args[0] == "show" {
				e.printOrg(orgs[0], owner, period, resets)
				return nil
			}
			if len(orgs) == 0 {
				fmt.Fprintln(e.stdout, "no organisation yet: snapglyph org create --name NAME --owner-email EMAIL")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ID\tNAME\tPLAN\tAPI CALLS %s\tIMAGE CREDITS %s\tCREATED\n", period, period)
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d / %d\t%d / %d\t%s\n", o.Org.ID, printable(o.Org.Name), planLine(o.Org),
					o.Used.APICalls, o.Org.APICallLimit(), o.Used.ImageCredits, o.Org.ImageCreditLimit(), o.Org.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		})
	case "set-owner":
		fs := e.flagSet("org set-owner")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 2, "org set-owner ORG_ID EMAIL [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			from, to, err := svc.SetOwner(ctx, snapglyph.Operator, pos[0], pos[1])
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(struct {
					ID            string `json:"id"`
					Owner         string `json:"owner"`
					PreviousOwner string `json:"previousOwner"`
				}{pos[0], to, from})
			}
			fmt.Fprintf(e.stdout, "%s is now the Owner of %s; %s is an Admin\n", printable(to), printable(pos[0]), printable(from))
			return nil
		})
	case "set-limits":
		fs := e.flagSet("org set-limits")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		calls := fs.String("api-calls", "", "monthly API calls: a number (at most 10^12), or plan for the plan's limit again")
		credits := fs.String("image-credits", "", "monthly image credits: a number (at most 10^12), or plan for the plan's limit again")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, "org set-limits ORG_ID [--api-calls N|plan] [--image-credits N|plan] [--json]"); err != nil {
			return err
		}
		// A limit is a number up to service.MaxLimit, or "plan": the
		// operator's value removed, so that the plan's limit applies
		// again, also after a plan change.
		const maxLimit = service.MaxLimit
		limitFlag := func(name, s string) (*int64, error) {
			if s == "plan" {
				v := service.PlanLimit
				return &v, nil
			}
			if s == "" {
				return nil, nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			switch {
			case err != nil:
				return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s is a whole number from 0 to %d, or plan for the plan's limit; not %s", name, maxLimit, quoteValue(s))
			case n < 0:
				return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s: a limit cannot be negative (got %d); plan returns to the plan's limit", name, n)
			case n > maxLimit:
				return nil, snapglyph.Errorf(snapglyph.EINVALID, "%s: a limit is at most %d (10^12; JSON numbers above 2^53 lose precision in JavaScript), not %d", name, maxLimit, n)
			}
			return &n, nil
		}
		c, err := limitFlag("--api-calls", *calls)
		if err != nil {
			return err
		}
		ic, err := limitFlag("--image-credits", *credits)
		if err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			if err := svc.SetLimits(ctx, snapglyph.Operator, pos[0], c, ic); err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			org, err := svc.Subscription(ctx, snapglyph.Operator, pos[0])
			if err != nil {
				return err
			}
			limits := toOrgLimitsJSON(org)
			if now := svc.Now(); !org.HasAPI(now) {
				// Stored all the same, for after an upgrade.
				plan := "the " + string(org.Plan) + " plan has"
				if org.TrialEnded(now) {
					plan = "an ended trial has"
				}
				limits.Warning = fmt.Sprintf("%s no API access: these limits apply after an upgrade (snapglyph org set-plan %s pro|max); meanwhile every key is refused with 403 api_not_in_plan", plan, org.ID)
				fmt.Fprintf(e.stderr, "warning: %s\n", limits.Warning)
			}
			if *asJSON {
				return e.printJSON(orgChangeJSON{ID: pos[0], Plan: string(org.Plan), orgLimitsJSON: limits, UnconfirmedNodes: unc.list()})
			}
			fmt.Fprintf(e.stdout, "limits of organisation %s: %s\n", pos[0], limitsLine(org))
			return nil
		})
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown org command %q: use create, list, show, set-plan, set-limits, set-owner or requests", args[0])
}

// orgUsageJSON is an organisation as org list and org show print it.
type orgUsageJSON struct {
	orgJSON
	Usage usageJSON `json:"usage"`
}

// usageJSON is an organisation's usage in the period as stored, in the
// shape of GET /api/v1/usage.
type usageJSON struct {
	Period       string    `json:"period"`
	APICalls     meterJSON `json:"apiCalls"`
	ImageCredits meterJSON `json:"imageCredits"`
	ResetsAt     time.Time `json:"resetsAt"`
}

type meterJSON struct {
	Used      int64 `json:"used"`
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
}

func toUsageJSON(o snapglyph.OrgUsage, period string, resets time.Time) usageJSON {
	meter := func(used, limit int64) meterJSON { return meterJSON{used, limit, max(limit-used, 0)} }
	return usageJSON{Period: period, ResetsAt: resets,
		APICalls:     meter(o.Used.APICalls, o.Org.APICallLimit()),
		ImageCredits: meter(o.Used.ImageCredits, o.Org.ImageCreditLimit())}
}

// planLine is the organisation's plan, and how a trial stands.
func planLine(o *snapglyph.Org) string {
	switch {
	case o.TrialEnded(time.Now()):
		return "trial (ended " + o.TrialEndsAt.UTC().Format("2006-01-02") + ")"
	case o.Plan == snapglyph.PlanTrial:
		return "trial (ends " + o.TrialEndsAt.UTC().Format("2006-01-02") + ")"
	}
	return string(o.Plan)
}

// printOrg prints one organisation and its usage, as org show does.
func (e *env) printOrg(o snapglyph.OrgUsage, owner *ownerJSON, period string, resets time.Time) {
	u := toUsageJSON(o, period, resets)
	limits := "the plan's"
	if o.Org.APICallsLimit != nil || o.Org.ImageCreditsLimit != nil {
		limits = "set by the operator (org set-limits)"
	}
	fmt.Fprintf(e.stdout, "%s  %s\n", o.Org.ID, printable(o.Org.Name))
	if owner != nil {
		fmt.Fprintf(e.stdout, "  owner:          %s (%s)\n", printable(owner.Email), owner.ID)
	}
	fmt.Fprintf(e.stdout, "  plan:           %s, limits %s\n", planLine(o.Org), limits)
	fmt.Fprintf(e.stdout, "  created:        %s\n", o.Org.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "  API calls:      %d of %d used in %s, %d left\n", u.APICalls.Used, u.APICalls.Limit, period, u.APICalls.Remaining)
	fmt.Fprintf(e.stdout, "  image credits:  %d of %d used in %s, %d left\n", u.ImageCredits.Used, u.ImageCredits.Limit, period, u.ImageCredits.Remaining)
	fmt.Fprintf(e.stdout, "  resets:         %s (usage as the nodes last flushed it, at most --flush-interval old)\n", resets.Format(time.RFC3339))
}

// planRequestJSON is a plan request as org requests --json prints it.
type planRequestJSON struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"orgId"`
	OrgName     string     `json:"orgName"`
	From        string     `json:"from"`
	Plan        string     `json:"plan"`
	RequestedBy string     `json:"requestedBy"`
	RequestedAt time.Time  `json:"requestedAt"`
	Status      string     `json:"status"`
	ClosedAt    *time.Time `json:"closedAt,omitempty"`
	ClosedBy    string     `json:"closedBy,omitempty"`
	Note        string     `json:"note,omitempty"`
}

func toPlanRequestJSON(p *snapglyph.PlanRequest) planRequestJSON {
	return planRequestJSON{ID: p.ID, OrgID: p.OrgID, OrgName: p.OrgName, From: string(p.From), Plan: string(p.Plan), RequestedBy: p.ByLabel,
		RequestedAt: p.CreatedAt, Status: string(p.Status), ClosedAt: timeJSON(p.ClosedAt), ClosedBy: p.ClosedBy, Note: p.Note}
}

// orgLimitsJSON is an organisation's limits after set-plan or
// set-limits: the limits that apply, and those set by the operator (org
// set-limits), which keep the plan's from applying.
type orgLimitsJSON struct {
	APICallsLimit     int64            `json:"apiCallsLimit"`
	ImageCreditsLimit int64            `json:"imageCreditsLimit"`
	OperatorLimits    map[string]int64 `json:"operatorLimits"`
	// Warning says that operator limits keep the new plan's from
	// applying (set-plan), or that the plan has no API access for the
	// limits to apply to (set-limits on Starter).
	Warning string `json:"warning,omitempty"`
}

func toOrgLimitsJSON(o *snapglyph.Org) *orgLimitsJSON {
	out := &orgLimitsJSON{APICallsLimit: o.APICallLimit(), ImageCreditsLimit: o.ImageCreditLimit(), OperatorLimits: map[string]int64{}}
	if o.APICallsLimit != nil {
		out.OperatorLimits["apiCalls"] = *o.APICallsLimit
	}
	if o.ImageCreditsLimit != nil {
		out.OperatorLimits["imageCredits"] = *o.ImageCreditsLimit
	}
	return out
}

// limitsLine is an organisation's limits and where each comes from.
func limitsLine(o *snapglyph.Org) string {
	from := func(set *int64) string {
		if set != nil {
			return "set by the operator"
		}
		return "the " + string(o.Plan) + " plan's"
	}
	return fmt.Sprintf("%d API calls (%s), %d image credits (%s) a month",
		o.APICallLimit(), from(o.APICallsLimit), o.ImageCreditLimit(), from(o.ImageCreditsLimit))
}

// overrideWarning says which operator limits keep the plan's from
// applying, and how to remove them; "" when none does.
func overrideWarning(o *snapglyph.Org) string {
	plan := o.Plan.Limits()
	var kept, flags []string
	if o.APICallsLimit != nil {
		kept = append(kept, fmt.Sprintf("%d API calls (the plan has %d)", *o.APICallsLimit, plan.APICalls))
		flags = append(flags, "--api-calls plan")
	}
	if o.ImageCreditsLimit != nil {
		kept = append(kept, fmt.Sprintf("%d image credits (the plan has %d)", *o.ImageCreditsLimit, plan.ImageCredits))
		flags = append(flags, "--image-credits plan")
	}
	if len(kept) == 0 {
		return ""
	}
	w := fmt.Sprintf("the limits set with org set-limits stay, not the %s plan's: %s; for the plan's: snapglyph org set-limits %s %s",
		o.Plan, strings.Join(kept, ", "), o.ID, strings.Join(flags, " "))
	if !plan.API {
		// The limits stay stored, but no key works on this plan.
		w += fmt.Sprintf(" (they apply again after an upgrade: the %s plan has no API access, so every key is refused with 403 api_not_in_plan meanwhile)", o.Plan)
	}
	return w
}

func toOrgJSON(o *snapglyph.Org) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Plan: string(o.Plan), TrialEndsAt: timeJSON(o.TrialEndsAt),
		APICallsLimit: o.APICallLimit(), ImageCreditsLimit: o.ImageCreditLimit(), CreatedAt: o.CreatedAt}
}

type keyJSON struct {
	ID     string `json:"id"`
	Key    string `json:"key,omitempty"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	OrgID  string `json:"orgId"`
	// Status is the key's state now: active, paused, expired or revoked
	// (a pause whose end has passed is active; an expiry or the end of a
	// roll's overlap makes a key expired).
	Status            string     `json:"status"`
	CreatedAt         time.Time  `json:"createdAt"`
	CreatedBy         string     `json:"createdBy"`      // "user:usr_…" or "operator", as stored
	CreatedByLabel    string     `json:"createdByLabel"` // an email or "operator (CLI)", as paused.by
	LastUsedAt        *time.Time `json:"lastUsedAt"`
	LastUsedIP        string     `json:"lastUsedIp,omitempty"`
	LastUsedUserAgent string     `json:"lastUsedUserAgent,omitempty"`
	RevokedAt         *time.Time `json:"revokedAt,omitempty"`
	ExpiresAt         *time.Time `json:"expiresAt"` // null: never
	// Access is "full" or "restricted"; Scopes are the permissions of a
	// restricted key ([] for full access).
	Access     string          `json:"access"`
	Scopes     []string        `json:"scopes"`
	AllowedIPs []string        `json:"allowedIps"` // []: every address
	Paused     *pauseJSON      `json:"paused"`     // null unless paused now
	Replaces   *string         `json:"replaces"`   // the key this one was rolled from
	ReplacedBy *replacedByJSON `json:"replacedBy"` // the key that replaced this one
	Hint       string          `json:"hint,omitempty"`
}

type pauseJSON struct {
	Reason string     `json:"reason"`
	By     string     `json:"by"` // a label, as createdByLabel
	At     time.Time  `json:"at"`
	Until  *time.Time `json:"until"` // null: until resumed
}

type replacedByJSON struct {
	ID     string `json:"id"`
	Prefix string `json:"prefix"`
	// OverlapEndsAt is when this (old) key stops working.
	OverlapEndsAt time.Time `json:"overlapEndsAt"`
}

// keyChangeJSON is a key after a change (pause, resume, revoke, rename,
// end-overlap), with the nodes that did not confirm the change in time
// (empty: in force everywhere).
type keyChangeJSON struct {
	keyJSON
	UnconfirmedNodes []string `json:"unconfirmedNodes"`
}

// keyRollJSON is the result of key roll: the new key as key create prints
// it, and the old key as it is now.
type keyRollJSON struct {
	keyJSON
	Old              keyJSON  `json:"old"`
	UnconfirmedNodes []string `json:"unconfirmedNodes"`
}

// orgChangeJSON is the result of org set-plan and set-limits.
type orgChangeJSON struct {
	ID   string `json:"id"`
	Plan string `json:"plan,omitempty"`
	*orgLimitsJSON
	UnconfirmedNodes []string `json:"unconfirmedNodes"`
	// ClosedRequest is the Owner's pending plan request that set-plan
	// closed (approved or superseded).
	ClosedRequest string `json:"closedRequest,omitempty"`
}

func toKeyJSON(k *snapglyph.APIKey, now time.Time) keyJSON {
	out := keyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, OrgID: k.OrgID, Status: string(k.StateAt(now)),
		CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, LastUsedAt: timeJSON(k.LastUsedAt),
		LastUsedIP: k.LastUsedIP, LastUsedUserAgent: k.LastUsedUA, RevokedAt: timeJSON(k.RevokedAt),
		ExpiresAt: timeJSON(k.ExpiresAt), Access: "full", Scopes: []string{}, AllowedIPs: []string{}}
	if !k.Scopes.Full() {
		out.Access, out.Scopes = "restricted", k.Scopes.Names()
	}
	for _, p := range k.AllowedIPs {
		out.AllowedIPs = append(out.AllowedIPs, snapglyph.AllowedIPString(p))
	}
	if k.IsPaused(now) {
		out.Paused = &pauseJSON{Reason: k.PausedReason, By: k.PausedBy, At: k.PausedAt, Until: timeJSON(k.PausedUntil)}
	}
	if k.Replaces != "" {
		out.Replaces = &k.Replaces
	}
	if k.ReplacedBy != "" {
		out.ReplacedBy = &replacedByJSON{ID: k.ReplacedBy, Prefix: k.ReplacedByPrefix, OverlapEndsAt: k.OverlapEndsAt}
	}
	return out
}

// keyEventsScanned is how many of a key's audit events (newest first)
// keyJSONOf reads to find its creation.
const keyEventsScanned = 1000

// keyJSONOf is toKeyJSON with createdByLabel (creatorLabel). When the
// audit log cannot be read, it says so on standard error and the label
// is createdBy, as on the key's page: the command's change (if any) is
// made.
func (e *env) keyJSONOf(ctx context.Context, svc *service.Service, k *snapglyph.APIKey, now time.Time) keyJSON {
	out := toKeyJSON(k, now)
	label, err := creatorLabel(ctx, svc, k)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: who created key %s is not known (%s): createdByLabel is createdBy\n", k.ID, oneLine(snapglyph.ErrorMessage(err)))
	}
	out.CreatedByLabel = label
	return out
}

// creatorLabel is who created k as people know them, as the audit log
// and the key's page name them: the email of the person of its
// key.created event, or "operator (CLI)". Where neither is known (the
// event is not among the key's newest keyEventsScanned, or the audit log
// cannot be read, err) it is the stored createdBy, "user:usr_…".
func creatorLabel(ctx context.Context, svc *service.Service, k *snapglyph.APIKey) (string, error) {
	if k.CreatedBy == snapglyph.Operator.String() {
		return snapglyph.Operator.Label, nil
	}
	events, err := svc.KeyEvents(ctx, snapglyph.Operator, k.ID, keyEventsScanned)
	if err != nil {
		return k.CreatedBy, err
	}
	for _, ev := range events {
		if ev.Action == "key.created" {
			return cmp.Or(ev.ActorLabel, k.CreatedBy), nil
		}
	}
	return k.CreatedBy, nil
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flags, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// keySpecFlags are key create's options; roll takes none of them (the
// new key inherits its settings).
type keySpecFlags struct {
	expiresIn, expiresAt, scopes, allowIP *string
}

func addKeySpecFlags(fs *flags) keySpecFlags {
	return keySpecFlags{
		expiresIn: fs.String("expires-in", "", "the key expires after this long: at least 1m, e.g. 30d, 12h, 90m, 2w (default: never)"),
		expiresAt: fs.String("expires-at", "", "the key expires at this time: RFC 3339 (2027-06-30T00:00:00Z) or a date (00:00 UTC)"),
		scopes:    fs.String("scopes", "", "restrict the key to these permissions, comma-separated: "+strings.Join(snapglyph.AllScopes(), ", ")+" (default: full access)"),
		allowIP:   fs.String("allow-ip", "", "accept the key only from these addresses or CIDR ranges, comma-separated, at most 20 (default: every address)"),
	}
}

// spec reads the options into a key spec; a flag given empty is an error,
// not the default.
func (f keySpecFlags) spec(fs *flags, name string) (service.KeySpec, error) {
	spec := service.KeySpec{Name: name}
	var err error
	if flagSet(fs, "expires-in") {
		if flagSet(fs, "expires-at") {
			return spec, snapglyph.Errorf(snapglyph.EINVALID, "give --expires-in or --expires-at, not both")
		}
		if spec.ExpiresIn, err = snapglyph.ParseDuration(*f.expiresIn); err != nil {
			return spec, prefixed("--expires-in", err)
		}
		if spec.ExpiresIn < snapglyph.MinKeyLifetime {
			return spec, snapglyph.Errorf(snapglyph.EINVALID, "--expires-in: a key's lifetime is at least one minute; leave the flag out for a key that never expires")
		}
	}
	if flagSet(fs, "expires-at") {
		if spec.ExpiresAt, err = snapglyph.ParseTime(*f.expiresAt); err != nil {
			return spec, prefixed("--expires-at", err)
		}
	}
	if flagSet(fs, "scopes") {
		if spec.Scopes, err = snapglyph.ParseScopes(*f.scopes); err != nil {
			return spec, prefixed("--scopes", err)
		}
	}
	if flagSet(fs, "allow-ip") {
		if spec.AllowedIPs, err = snapglyph.ParseAllowedIPs(*f.allowIP); err != nil {
			return spec, prefixed("--allow-ip", err)
		}
	}
	return spec, nil
}

// prefixed names the flag in an input error.
func prefixed(flagName string, err error) error {
	return snapglyph.Errorf(snapglyph.ErrorKind(err), "%s: %s", flagName, snapglyph.ErrorMessage(err))
}

// printNewKey prints a created or rolled key: the only time it is shown.
func (e *env) printNewKey(k *service.NewKey) {
	fmt.Fprintf(e.stdout, "%s\n\nThis is the only time the key is shown: store it now (an environment variable or a secret manager).\nid %s, name %s\n", k.Secret, k.ID, printable(k.Name))
	if s := k.Settings(); s != "" {
		fmt.Fprintf(e.stdout, "%s\n", s)
	}
	if k.Hint != "" {
		fmt.Fprintln(e.stderr, "hint:", printable(k.Hint))
	}
}

const keyUsage = "usage: snapglyph key create|list|show|pause|resume|revoke|rename|restrict|roll|end-overlap …"

func (e *env) key(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, keyUsage)
	}
	switch args[0] {
	case "create":
		fs := e.flagSet("key create")
		dsn := e.dbFlag(fs)
		org := fs.String("org", "", "the organisation's id")
		name := fs.String("name", "", "where the key is used, e.g. Production-WebApp (1-64 characters, unique among the organisation's active keys)")
		specFlags := addKeySpecFlags(fs)
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		const usage = "key create --org ORG_ID --name NAME [--expires-in DURATION | --expires-at TIME] [--scopes LIST] [--allow-ip LIST] [--json]"
		if err := needArgs(pos, 0, usage); err != nil {
			return err
		}
		if err := needFlags(fs, usage, "org"); err != nil {
			return err
		}
		spec, err := specFlags.spec(fs, *name)
		if err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			k, err := svc.CreateKeyWith(ctx, snapglyph.Operator, *org, spec)
			if err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			if *asJSON {
				out := keyChangeJSON{keyJSON: e.keyJSONOf(ctx, svc, k.APIKey, svc.Now()), UnconfirmedNodes: unc.list()}
				out.Key, out.Hint = k.Secret, k.Hint
				return e.printJSON(out)
			}
			e.printNewKey(k)
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
		const usage = "key list --org ORG_ID [--all] [--json]"
		if err := needArgs(pos, 0, usage); err != nil {
			return err
		}
		if err := needFlags(fs, usage, "org"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			keys, err := svc.Keys(ctx, snapglyph.Operator, *org, *all)
			if err != nil {
				return err
			}
			now := svc.Now()
			if *asJSON {
				for _, k := range keys {
					if err := e.printJSON(e.keyJSONOf(ctx, svc, k, now)); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tSTATUS\tEXPIRES\tACCESS")
			for _, k := range keys {
				last := "Never"
				if !k.LastUsedAt.IsZero() {
					last = fmt.Sprintf("%s from %s", k.LastUsedAt.Format(time.RFC3339), printable(k.LastUsedIP))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s...\t%s\t%s\t%s\t%s\t%s\n", k.ID, printable(k.Name), k.Prefix, k.CreatedAt.Format(time.RFC3339), last,
					statusLine(k, now), expiresLine(k, now), accessLine(k))
			}
			return tw.Flush()
		})
	case "show":
		fs := e.flagSet("key show")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the key as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, "key show KEY_ID [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			k, err := svc.Key(ctx, snapglyph.Operator, pos[0])
			if err != nil {
				return err
			}
			now := svc.Now()
			if *asJSON {
				return e.printJSON(e.keyJSONOf(ctx, svc, k, now))
			}
			creator, err := creatorLabel(ctx, svc, k)
			if err != nil {
				fmt.Fprintf(e.stderr, "warning: who created key %s is not known (%s): its id is shown\n", k.ID, oneLine(snapglyph.ErrorMessage(err)))
			}
			e.printKey(k, creator, now)
			return nil
		})
	case "pause", "resume", "revoke", "end-overlap":
		verb := args[0]
		fs := e.flagSet("key " + verb)
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the key as one JSON line")
		var reason, until *string
		usage := "key " + verb + " KEY_ID [--json]"
		if verb == "pause" {
			reason = fs.String("reason", "", "why the key is paused (at most 200 characters), shown in the list and the audit log")
			until = fs.String("until", "", "resume the key by itself at this time: RFC 3339 (2026-12-24T09:00:00Z) or a date (00:00 UTC)")
			usage = "key pause KEY_ID [--reason TEXT] [--until TIME] [--json]"
		}
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, usage); err != nil {
			return err
		}
		var end time.Time
		if until != nil && flagSet(fs, "until") {
			if end, err = snapglyph.ParseTime(*until); err != nil {
				return prefixed("--until", err)
			}
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			var k *snapglyph.APIKey
			var err error
			switch verb {
			case "pause":
				k, err = svc.PauseKeyWith(ctx, snapglyph.Operator, pos[0], *reason, end)
			case "resume":
				k, err = svc.ResumeKey(ctx, snapglyph.Operator, pos[0])
			case "revoke":
				k, err = svc.RevokeKey(ctx, snapglyph.Operator, pos[0])
			default:
				k, err = svc.EndOverlap(ctx, snapglyph.Operator, pos[0])
			}
			if err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			now := svc.Now()
			if *asJSON {
				return e.printJSON(keyChangeJSON{keyJSON: e.keyJSONOf(ctx, svc, k, now), UnconfirmedNodes: unc.list()})
			}
			if verb == "end-overlap" {
				fmt.Fprintf(e.stdout, "key %s (%s, %s...) stopped working now; %s... replaces it\n", k.ID, printable(k.Name), k.Prefix, k.ReplacedByPrefix)
				return nil
			}
			fmt.Fprintf(e.stdout, "key %s (%s, %s...) is now %s%s\n", k.ID, printable(k.Name), k.Prefix, k.StateAt(now), pauseNote(k))
			return nil
		})
	case "rename":
		fs := e.flagSet("key rename")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the key as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 2, "key rename KEY_ID NAME [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			k, err := svc.RenameKey(ctx, snapglyph.Operator, pos[0], pos[1])
			if err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			if *asJSON {
				return e.printJSON(keyChangeJSON{keyJSON: e.keyJSONOf(ctx, svc, k, svc.Now()), UnconfirmedNodes: unc.list()})
			}
			fmt.Fprintf(e.stdout, "key %s (%s...) is now named %s\n", k.ID, k.Prefix, printable(k.Name))
			return nil
		})
	case "restrict":
		fs := e.flagSet("key restrict")
		dsn := e.dbFlag(fs)
		scopes := fs.String("scopes", "", "restrict the key to these permissions, comma-separated: "+strings.Join(snapglyph.AllScopes(), ", "))
		full := fs.Bool("full-access", false, "lift the key's permissions: it may do everything")
		allowIP := fs.String("allow-ip", "", "accept the key only from these addresses or CIDR ranges, comma-separated, at most 20")
		anyIP := fs.Bool("any-ip", false, "remove the key's IP allowlist: accept it from every address")
		asJSON := fs.Bool("json", false, "print the key as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		usage := "key restrict KEY_ID [--scopes LIST | --full-access] [--allow-ip LIST | --any-ip] [--json]"
		if err := needArgs(pos, 1, usage); err != nil {
			return err
		}
		switch {
		case flagSet(fs, "scopes") && *full, flagSet(fs, "allow-ip") && *anyIP:
			return snapglyph.Errorf(snapglyph.EINVALID, "give --scopes or --full-access, and --allow-ip or --any-ip, not both of a pair")
		case !flagSet(fs, "scopes") && !*full && !flagSet(fs, "allow-ip") && !*anyIP:
			return snapglyph.Errorf(snapglyph.EINVALID, "usage: snapglyph %s (give at least one)", usage)
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			k, err := svc.Key(ctx, snapglyph.Operator, pos[0])
			if err != nil {
				return err
			}
			ss, ips := k.Scopes, k.AllowedIPs
			switch {
			case *full:
				ss = snapglyph.FullAccess
			case flagSet(fs, "scopes"):
				if ss, err = snapglyph.ParseScopes(*scopes); err != nil {
					return prefixed("--scopes", err)
				}
			}
			switch {
			case *anyIP:
				ips = nil
			case flagSet(fs, "allow-ip"):
				if ips, err = snapglyph.ParseAllowedIPs(*allowIP); err != nil {
					return prefixed("--allow-ip", err)
				}
			}
			unc := watchUnconfirmed(svc)
			k, err = svc.RestrictKey(ctx, snapglyph.Operator, pos[0], ss, ips)
			if err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			if *asJSON {
				return e.printJSON(keyChangeJSON{keyJSON: e.keyJSONOf(ctx, svc, k, svc.Now()), UnconfirmedNodes: unc.list()})
			}
			fmt.Fprintf(e.stdout, "key %s (%s, %s...) now has %s\n", k.ID, printable(k.Name), k.Prefix, accessLine(k))
			return nil
		})
	case "roll":
		fs := e.flagSet("key roll")
		dsn := e.dbFlag(fs)
		overlap := fs.String("overlap", "0", "how long the old key keeps working: 0 (now) to 7d, e.g. 1h, 24h, 7d; never past its own expiry")
		asJSON := fs.Bool("json", false, "print the new key (and the old one) as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, "key roll KEY_ID [--overlap DURATION] [--json]"); err != nil {
			return err
		}
		d, err := snapglyph.ParseDuration(*overlap)
		if err != nil {
			return prefixed("--overlap", err)
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			unc := watchUnconfirmed(svc)
			r, err := svc.RollKey(ctx, snapglyph.Operator, pos[0], d)
			if err != nil {
				return err
			}
			e.warnUnconfirmed(unc)
			now := svc.Now()
			if *asJSON {
				out := keyRollJSON{keyJSON: e.keyJSONOf(ctx, svc, r.APIKey, now), Old: e.keyJSONOf(ctx, svc, r.Old, now), UnconfirmedNodes: unc.list()}
				out.Key = r.Secret
				return e.printJSON(out)
			}
			e.printNewKey(r.NewKey)
			if r.Old.IsExpired(now) {
				fmt.Fprintf(e.stdout, "the old key %s... (%s) stopped working now\n", r.Old.Prefix, r.Old.ID)
			} else {
				fmt.Fprintf(e.stdout, "the old key %s... (%s) keeps working until %s\n", r.Old.Prefix, r.Old.ID, snapglyph.FormatTime(r.Old.EndsAt()))
			}
			return nil
		})
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown key command %q: use create, list, show, pause, resume, revoke, rename, restrict, roll or end-overlap", args[0])
}

// printKey prints one key's details for people; creator is who created
// it (creatorLabel).
func (e *env) printKey(k *snapglyph.APIKey, creator string, now time.Time) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(label, value string) { fmt.Fprintf(tw, "%s\t%s\n", label, value) }
	row("id", k.ID)
	row("name", printable(k.Name))
	row("prefix", k.Prefix+"...")
	row("organisation", k.OrgID)
	row("status", statusLine(k, now))
	row("created", k.CreatedAt.Format(time.RFC3339)+" by "+printable(creator))
	row("expires", expiresLine(k, now))
	row("access", accessLine(k))
	ips := "every address"
	if len(k.AllowedIPs) > 0 {
		ips = strings.ReplaceAll(snapglyph.FormatAllowedIPs(k.AllowedIPs), ",", ", ")
	}
	row("IP allowlist", ips)
	if k.Replaces != "" {
		row("replaces", k.Replaces)
	}
	if k.ReplacedBy != "" {
		row("replaced by", k.ReplacedByPrefix+"... ("+k.ReplacedBy+"), overlap until "+snapglyph.FormatTime(k.OverlapEndsAt))
	}
	last := "never"
	if !k.LastUsedAt.IsZero() {
		last = fmt.Sprintf("%s from %s (%s)", k.LastUsedAt.Format(time.RFC3339), printable(k.LastUsedIP), printable(k.LastUsedUA))
	}
	row("last used", last)
	tw.Flush()
}

// statusLine is a key's status for people, as the dashboard says it:
// "Active", "Paused" (by whom, and the pause's reason and end if it has
// them), "Expired", "Revoked", and the roll relation. (The help page's
// "Inactive" is the dashboard's word no longer: a paused key says so.)
func statusLine(k *snapglyph.APIKey, now time.Time) string {
	switch k.StateAt(now) {
	case snapglyph.StatePaused:
		return "Paused" + pauseNote(k)
	case snapglyph.StateExpired:
		if k.ReplacedBy != "" {
			return "Expired (replaced by " + k.ReplacedByPrefix + "...)"
		}
		return "Expired"
	case snapglyph.StateRevoked:
		return "Revoked"
	}
	if k.ReplacedBy != "" {
		return "Active (replaced by " + k.ReplacedByPrefix + "..., until " + snapglyph.FormatTime(k.OverlapEndsAt) + ")"
	}
	return "Active"
}

// pauseNote is " (paused by …: reason; until …)" for a pause with a
// reason or an end, and "" otherwise.
func pauseNote(k *snapglyph.APIKey) string {
	if k.Status != snapglyph.KeyPaused || k.PausedBy == "" && k.PausedReason == "" && k.PausedUntil.IsZero() {
		return ""
	}
	s := " (by " + printable(cmp.Or(k.PausedBy, "someone"))
	if k.PausedReason != "" {
		s += ": " + printable(k.PausedReason)
	}
	if !k.PausedUntil.IsZero() {
		s += "; until " + snapglyph.FormatTime(k.PausedUntil)
	}
	return s + ")"
}

// expiresLine is when a key expires, for people.
func expiresLine(k *snapglyph.APIKey, now time.Time) string {
	end := k.ExpiresAt
	switch {
	case end.IsZero():
		return "Never"
	case !now.Before(end):
		return "Expired " + snapglyph.FormatTime(end)
	}
	return snapglyph.FormatTime(end) + " (in " + snapglyph.TimeUntil(now, end) + ")"
}

// accessLine is a key's permissions and allowlist in a few words.
func accessLine(k *snapglyph.APIKey) string {
	s := k.Scopes.Label()
	if n := len(k.AllowedIPs); n > 0 {
		s += fmt.Sprintf(" (%d IP %s)", n, map[bool]string{true: "entry", false: "entries"}[n == 1])
	}
	return s
}
