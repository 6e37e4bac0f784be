package server

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// principal is the API caller, resolved once by requireAPIKey.
type principal struct {
	key *snapglyph.APIKey
	org *snapglyph.Org
	// period is the period the call was charged in (the meter's, which
	// differs from now's when the request waited across midnight on the
	// 1st); creditsPeriod that of the image credits spent, if any.
	period, creditsPeriod string
	now                   time.Time
	calls                 meterState // after this request's charge
	credits               meterState
	// What the handler spent beyond the call, and whether it refused the
	// request after all (then the call is refunded and not recorded).
	spent    snapglyph.Counts
	refunded bool
	// refused: the key was refused when checked again after the body
	// (recheck); the request is then as one refused at once.
	refused bool
}

// refundCall gives back the request's API call: the handler refused it
// with a 429, or the server failed it (5xx, or the client gave up
// waiting); such requests cost nothing.
func (s *Server) refundCall(w http.ResponseWriter, p *principal) {
	s.meter.Refund(p.org, snapglyph.APICalls, 1, p.period)
	p.refunded = true
	p.calls.Used = max(p.calls.Used-1, 0)
	p.calls.Remaining = max(p.calls.Limit-p.calls.Used, 0)
	setLimitHeaders(w.Header(), p.calls, p.now)
}

// refundPanicked gives back what a request whose handler panicked was
// charged and not given back: its call and its image credits.
func (s *Server) refundPanicked(p *principal) {
	if !p.refunded {
		s.meter.Refund(p.org, snapglyph.APICalls, 1, p.period)
		p.refunded = true
	}
	if n := p.spent.ImageCredits; n > 0 {
		s.meter.Refund(p.org, snapglyph.ImageCredits, n, cmp.Or(p.creditsPeriod, p.period))
		p.spent.ImageCredits = 0
	}
}

// apiHandler serves an authenticated API request. The principal is
// passed as an argument, not through the request's context: that would
// copy the request on every call.
type apiHandler func(w http.ResponseWriter, r *http.Request, p *principal)

func malformedAuth(format string, args ...any) error {
	return snapglyph.Codef(snapglyph.EUNAUTHORIZED, "malformed_authorization", format, args...)
}

// bearerKey extracts the key from an Authorization header value that must
// be exactly "Bearer <key>" (the scheme in any case, RFC 6750). The errors
// say what is wrong without repeating what was sent.
func bearerKey(h string) (string, error) {
	const example = "send it as: Authorization: Bearer qr_live_…"
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		switch {
		case strings.TrimSpace(h) == "":
			return "", malformedAuth("the Authorization header is empty; %s", example)
		case strings.EqualFold(strings.TrimSpace(h), "bearer"):
			return "", malformedAuth("the Authorization header has the Bearer scheme but no key after it")
		case strings.HasPrefix(h, "qr_"):
			return "", malformedAuth("the Authorization header has the key without the Bearer scheme; %s", example)
		}
		return "", malformedAuth("the Authorization header is not of the form Bearer <key>; %s", example)
	}
	if !strings.EqualFold(scheme, "Bearer") {
		if strings.HasPrefix(scheme, "qr_") {
			return "", malformedAuth("the Authorization header has the key without the Bearer scheme; %s", example)
		}
		return "", malformedAuth("the Authorization scheme must be Bearer, not %q; %s", snapglyph.Shorten(scheme, 20), example)
	}
	switch {
	case rest == "":
		return "", malformedAuth("the Authorization header has the Bearer scheme but no key after it")
	case rest[0] == ' ' || rest[0] == '\t':
		return "", malformedAuth("there is more than one space after Bearer; remove the extra spaces")
	case strings.ContainsAny(rest, "\r\n"):
		return "", malformedAuth("the Authorization header contains a line break; remove it from the key")
	case strings.HasSuffix(rest, " ") || strings.HasSuffix(rest, "\t"):
		return "", malformedAuth("there are spaces after the key; remove them")
	case strings.ContainsAny(rest, " \t"):
		return "", malformedAuth("the key contains a space; send only the key after Bearer")
	case strings.ContainsAny(rest, `"'`):
		return "", malformedAuth("the key is in quotes; send it without quotes")
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < 0x20 || rest[i] == 0x7f {
			return "", malformedAuth("the Authorization header contains a control character")
		}
	}
	return rest, nil
}

// missingKey explains a request without an Authorization header, naming
// the places a key was sent instead (they are not accepted: headers and
// URLs end up in logs and caches).
func missingKey(r *http.Request) error {
	msg := "this endpoint needs an API key; send it as: Authorization: Bearer qr_live_…"
	switch {
	case r.Header.Get("X-API-Key") != "" || r.Header.Get("Api-Key") != "" || r.Header.Get("X-Api-Token") != "":
		msg = "an API key was sent in an X-API-Key-style header, which is not accepted; send it as: Authorization: Bearer qr_live_…"
	case slices.ContainsFunc(keyQueryParams, r.URL.Query().Has):
		msg = keyInURL + "; send it as: Authorization: Bearer qr_live_…"
	}
	return snapglyph.Codef(snapglyph.EUNAUTHORIZED, "missing_api_key", "%s", msg)
}

// keyQueryParams are the query parameters other APIs take a key in; a
// request with one is told that its key went into a URL (keyInURL),
// with or without a key in its Authorization header.
var keyQueryParams = []string{"api_key", "apiKey", "key", "access_token"}

const keyInURL = "an API key was sent in the URL, which is not accepted (URLs are logged and cached: revoke that key if it was a real one)"

// scopeFunc returns the permission a restricted key needs for a request.
type scopeFunc func(r *http.Request) snapglyph.Scope

// needs is the scopeFunc of an operation that always needs scope.
func needs(scope snapglyph.Scope) scopeFunc {
	return func(*http.Request) snapglyph.Scope { return scope }
}

// qrGetScope: GET /api/v1/qr-codes/{id} is an image (images:read) with
// format=svg or format=png, and the QR code as JSON (qr_codes:read)
// otherwise. It is asked only for restricted keys.
func qrGetScope(r *http.Request) snapglyph.Scope {
	if f := r.URL.Query().Get("format"); f == "svg" || f == "png" {
		return snapglyph.ScopeImagesRead
	}
	return snapglyph.ScopeQRRead
}

// requireAPIKey authenticates an API request (authenticate), checks the
// key's permissions, and charges one API call. Requests it refuses cost
// nothing: the permission and last the monthly allowance are checked after
// the key, the plan and the client address, so that a refused request
// never spends a call. A handler that reads a body checks the key again
// once the body is in (recheck). Each request counts once in the key
// verifications metric, with its final outcome: a key that passes is
// counted valid only once the handler is done, since a key refused at
// recheck is counted as refused there.
func (s *Server) requireAPIKey(scope scopeFunc, next apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := infoFrom(r.Context())
		key, org, now, ok := s.authenticate(w, r, in)
		if !ok {
			return
		}
		if !key.Scopes.Full() && scope != nil {
			if need := scope(r); !key.Scopes.Allows(need) {
				s.verifyCount("insufficient_scope")
				s.setUsageHeaders(w, r, org, now)
				w.Header().Set("WWW-Authenticate", `Bearer realm="snapglyph", error="insufficient_scope", scope="`+need.String()+`"`)
				s.writeError(w, r, key.ErrScope(need))
				return
			}
		}
		p, ok := s.chargeCall(w, r, key, org, now)
		if !ok {
			s.verifyCount("valid") // the key passed; the allowance refused it
			return
		}
		if in != nil {
			in.call = p
		}
		finished := false
		defer func() {
			if !finished {
				// The handler panicked (net/http recovers it, and the
				// client gets no answer): what it was charged is given
				// back, as for a 5xx, so it is neither spent nor counted
				// as running here any longer.
				s.refundPanicked(p)
			}
			// Counted even if the handler panics, unless recheck
			// refused and counted it.
			if !p.refused {
				s.verifyCount("valid")
			}
		}()
		next(w, r, p)
		finished = true
		if p.refused {
			return // answered, counted, logged and charged as refused at once (recheck)
		}
		period := p.period
		spent := p.spent
		if !p.refunded {
			spent.APICalls++
		}
		if in != nil {
			in.charged = spent
		}
		// The user agent is the client's text: kept, but made storable
		// (valid UTF-8, no NUL, cut on a character boundary) and with any
		// key in it cut to its prefix, as the request log keeps it.
		use := snapglyph.LastUse{At: now, IP: snapglyph.Storable(clientIP(r), snapglyph.MaxLastUsedIP), UserAgent: snapglyph.StorableShown(r.UserAgent(), snapglyph.MaxLastUsedUA)}
		if p.creditsPeriod != "" && p.creditsPeriod != period {
			// The credits were charged in the next period (midnight came
			// between the call's charge and theirs): recorded there.
			s.recorder.Record(org.ID, key.ID, p.creditsPeriod, snapglyph.Counts{ImageCredits: spent.ImageCredits}, use)
			spent.ImageCredits = 0
		}
		s.recorder.Record(org.ID, key.ID, period, spent, use)
	})
}

// setUsageHeaders sets the usage headers of a request refused for what
// its key may do (its scopes, the client's address), charging nothing: the
// key is authenticated, and every authenticated response tells the
// allowance. Without the meter's answer (the database away) the refusal
// goes without them.
func (s *Server) setUsageHeaders(w http.ResponseWriter, r *http.Request, org *snapglyph.Org, now time.Time) {
	calls, _, err := s.meter.Probe(r.Context(), org, snapglyph.APICalls, 0)
	if err != nil {
		return
	}
	credits, _, err := s.meter.Probe(r.Context(), org, snapglyph.ImageCredits, 0)
	if err != nil {
		return
	}
	setLimitHeaders(w.Header(), calls, now)
	setCreditHeaders(w.Header(), credits)
}

// chargeCall charges one API call to a request whose key passed, once the
// image credits it needs are found to be there (creditsFor), and returns
// its principal. It answers a request the allowance refuses (429) or the
// meter cannot charge (503) itself and then returns ok false.
func (s *Server) chargeCall(w http.ResponseWriter, r *http.Request, key *snapglyph.APIKey, org *snapglyph.Org, now time.Time) (p *principal, ok bool) {
	if cost, format := imageCost(r); cost > 0 && !s.creditsFor(w, r, org, now, cost, format) {
		return nil, false
	}
	calls, credits, ok, err := s.meter.ChargeCall(r.Context(), org)
	if err != nil {
		s.writeError(w, r, unavailable(err))
		return nil, false
	}
	h := w.Header()
	setLimitHeaders(h, calls, now)
	setCreditHeaders(h, credits)
	if !ok {
		s.recorder.RecordRefusal(org.ID, calls.Period, snapglyph.APICalls, now)
		h.Set("Retry-After", strconv.FormatInt(retryAfter(now, calls.ResetsAt), 10))
		s.writeError(w, r, snapglyph.Codef(snapglyph.ERATELIMIT, "api_call_limit_reached",
			"the organisation has reached its limit of %d API calls this month (%s); the allowance renews on %s",
			calls.Limit, usedWords(calls), calls.ResetsAt.Format("2006-01-02 15:04 UTC")))
		return nil, false
	}
	return &principal{key: key, org: org, period: calls.Period, now: now, calls: calls, credits: credits}, true
}

// recheck checks the key of a request again once its body is in, before
// the handler writes anything: a body can take as long as the server's
// read time-out (a client sending a byte a second), and a request that
// began before its key was revoked or paused, or its plan lost the API,
// would otherwise write after the command that stopped it had returned.
// The cache is exact, so the check costs a lookup. A request it refuses
// is answered as authenticate would have answered it (401
// api_key_revoked, api_key_paused…, counted and logged as such, without
// usage headers), its call is given back and no use of the key is
// recorded; recheck then returns false and the handler returns. A key
// that passes is not counted here: requireAPIKey counts it valid once
// the handler is done, so either way the request counts once.
func (s *Server) recheck(w http.ResponseWriter, r *http.Request, p *principal) bool {
	in := infoFrom(r.Context())
	h := w.Header()
	var usage [len(usageHeaders)][]string
	for i, name := range usageHeaders {
		usage[i] = h[name]
		delete(h, name)
	}
	if in != nil {
		in.call = nil // a 503 here is not refunded twice (refundFailed)
	}
	key, org, ok := s.authenticateAt(w, r, in, s.now())
	if in != nil {
		in.call = p
	}
	if ok {
		for i, name := range usageHeaders {
			h[name] = usage[i]
		}
		p.key, p.org = key, org
		return true
	}
	s.meter.Refund(p.org, snapglyph.APICalls, 1, p.period)
	p.refunded, p.refused = true, true
	return false
}

// usageHeaders are the headers of a charged call (setLimitHeaders,
// setCreditHeaders).
var usageHeaders = [...]string{hRateLimit, hRateRemaining, hRateReset, hRateLimitPolicy, hRateLimitIETF, hCreditsLimit, hCreditsRemaining}

// imageCost is what an image request costs in credits (SVG 1, PNG 10)
// and its format; 0 for any other request (the handler refuses a bad
// format) and for a conditional one.
func imageCost(r *http.Request) (int64, string) {
	if r.Pattern != "GET /api/v1/qr-codes/{id}" || httpx.HasField(r, "If-None-Match") {
		// A conditional request may be answered 304, which costs no
		// credit: the handler decides.
		return 0, ""
	}
	switch f := r.URL.Query().Get("format"); f {
	case "svg":
		return svgCredits, f
	case "png":
		return pngCredits, f
	}
	return 0, ""
}

// creditsFor answers an image request the organisation has too few
// credits for before its API call is taken: taken first and given back
// after the credit check, the call was held meanwhile, and with a few
// calls left other requests were refused api_call_limit_reached (with a
// Retry-After of the rest of the month) while the allowance held them.
// The image handler checks again when it charges the credits. It
// reports whether the request may go on.
func (s *Server) creditsFor(w http.ResponseWriter, r *http.Request, org *snapglyph.Org, now time.Time, cost int64, format string) bool {
	credits, ok, err := s.meter.Probe(r.Context(), org, snapglyph.ImageCredits, cost)
	if err == nil && !ok {
		var calls meterState
		if calls, _, err = s.meter.Probe(r.Context(), org, snapglyph.APICalls, 1); err == nil {
			setLimitHeaders(w.Header(), calls, now)
			s.writeError(w, r, s.creditsRefusal(w, org, now, credits, format, cost))
			return false
		}
	}
	if err != nil {
		s.writeError(w, r, unavailable(err))
		return false
	}
	return true
}

// authenticate verifies the request's key without charging anything or
// counting it as valid: requireAPIKey runs it on every endpoint, and
// handleNoRoute on a request that names a key but no endpoint. The checks
// run in this order, each before the next: the header's and the key's
// format (no database), the key's own state (revoked, expired, paused:
// the most final answer first, and an expired key's answer does not
// depend on who asks), the organisation's plan, and the client address.
// Failed authentications are limited per client address (see
// failureLimiter): past the limit they are answered 429, and a key this
// node has not cached is not looked up in the database at all. A key the
// cache holds (a valid key in use) is never throttled. A key of an
// organisation is noted in in, refused or not, for the request log. It
// answers a refused request itself (401, 403, 429, or 503 when the
// database is away) and then returns ok false; now is the request's time,
// which every later check and the recorded use take.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, in *requestInfo) (key *snapglyph.APIKey, org *snapglyph.Org, now time.Time, ok bool) {
	// The request's one reading of the clock, taken when it arrived
	// (requestLog), serves every check and the recorded use.
	if in != nil {
		now = in.at
	} else {
		now = s.now()
	}
	key, org, ok = s.authenticateAt(w, r, in, now)
	return key, org, now, ok
}

// authenticateAt is authenticate with the key's state, the plan and the
// client address checked at now.
func (s *Server) authenticateAt(w http.ResponseWriter, r *http.Request, in *requestInfo, now time.Time) (key *snapglyph.APIKey, org *snapglyph.Org, ok bool) {
	ctx := r.Context()
	headers := r.Header.Values("Authorization")
	if len(headers) == 0 {
		s.authFailed(w, r, "missing", missingKey(r))
		return nil, nil, false
	}
	if len(headers) > 1 {
		s.authFailed(w, r, "malformed", malformedAuth("send exactly one Authorization header"))
		return nil, nil, false
	}
	raw, err := bearerKey(headers[0])
	if err != nil {
		s.authFailed(w, r, "malformed", err)
		return nil, nil, false
	}
	if err := s.watcher.Fresh(ctx); err != nil {
		s.attribute(in, raw)
		s.verifyCount("error") // as a key the database could not be asked about
		s.writeError(w, r, unavailable(err))
		return nil, nil, false
	}
	key, org, answered, err := s.verifier.VerifyCachedAt(raw, now)
	if !answered {
		if wait, blocked := s.failures.Blocked(clientIP(r), now); blocked {
			s.throttled(w, r, wait)
			return nil, nil, false
		}
		key, org, err = s.verifier.VerifyAt(ctx, raw, now)
	}
	if key != nil && org != nil && in != nil {
		in.key, in.org = key, org // refused or not, the request is the organisation's
	}
	if err != nil {
		switch outcome := verifyOutcome(err); outcome {
		case "malformed", "unknown":
			s.authFailed(w, r, outcome, err)
		default:
			if key == nil {
				s.attribute(in, raw) // the database is away
			}
			s.verifyCount(outcome)
			s.writeError(w, r, err)
		}
		return nil, nil, false
	}
	if !org.HasAPI(now) {
		s.verifyCount("valid")
		s.writeError(w, r, org.ErrNotInPlan(now))
		return nil, nil, false
	}
	if len(key.AllowedIPs) > 0 {
		if ip := clientIP(r); !snapglyph.IPAllowed(key.AllowedIPs, ip) {
			s.verifyCount("ip_not_allowed")
			s.setUsageHeaders(w, r, org, now)
			s.writeError(w, r, key.ErrIP(ip))
			return nil, nil, false
		}
	}
	return key, org, true
}

// attribute notes, for the request log, whose request it was when its key
// could not be checked (the database away), from what this node last read
// of the key: whoever looks into a leaked key sees the attempts an outage
// turned away too. A key this node never read stays unattributed.
func (s *Server) attribute(in *requestInfo, raw string) {
	if in == nil {
		return
	}
	if k, o := s.verifier.LastSeen(raw); k != nil && o != nil {
		in.key, in.org = k, o
	}
}

// authFailed answers a failed authentication: 401 with err, or 429 when
// the client address has used up its failures.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, outcome string, err error) {
	if wait, ok := s.failures.Fail(clientIP(r), s.now()); !ok {
		s.throttled(w, r, wait)
		return
	}
	s.verifyCount(outcome)
	s.writeError(w, r, err)
}

// throttled answers 429 authentication_throttled, without saying whether
// the key was right: the address has failed too often.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.verifyCount("throttled")
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	s.writeError(w, r, snapglyph.Codef(snapglyph.ERATELIMIT, "authentication_throttled",
		"too many failed authentications from your address (more than %d a minute); check the API key in API Settings and try again in %d s",
		s.failures.PerMinute(), secs))
}

func verifyOutcome(err error) string {
	switch snapglyph.ErrorCode(err) {
	case "malformed_api_key":
		return "malformed"
	case "invalid_api_key":
		return "unknown"
	case "api_key_paused":
		return "paused"
	case "api_key_revoked":
		return "revoked"
	case "api_key_expired":
		return "expired"
	}
	return "error"
}

// unavailable makes a database failure a 503 unless it already is one.
func unavailable(err error) error {
	if c := snapglyph.ErrorKind(err); c != snapglyph.EINTERNAL {
		return err
	}
	return &wrapped{err: err, app: snapglyph.Errorf(snapglyph.EUNAVAILABLE, "the service cannot reach its database; try again in a few seconds")}
}

type wrapped struct {
	err error
	app *snapglyph.Error
}

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.app, w.err} }

func retryAfter(now, resets time.Time) int64 {
	return max(int64(resets.Sub(now).Seconds()+0.999), 1)
}

// The usage headers, in canonical form so they are set without parsing.
const (
	hRateLimit        = "X-Ratelimit-Limit"
	hRateRemaining    = "X-Ratelimit-Remaining"
	hRateReset        = "X-Ratelimit-Reset"
	hRateLimitPolicy  = "Ratelimit-Policy"
	hRateLimitIETF    = "Ratelimit"
	hCreditsLimit     = "X-Image-Credits-Limit"
	hCreditsRemaining = "X-Image-Credits-Remaining"
)

// usedWords says what was used of an allowance that refused a request.
// The units used can be fewer than the limit: the rest is reserved by
// this service's nodes (leases being spent, or left by a node that
// stopped without handing them back), and saying "limit used" would not
// match the usage the dashboard and /usage report. They can be more when
// the limit was lowered since.
func usedWords(c meterState) string {
	if c.Used >= c.Limit {
		return strconv.FormatInt(c.Used, 10) + " used"
	}
	return strconv.FormatInt(c.Used, 10) + " used, the rest reserved"
}

// setLimitHeaders writes the API-call allowance: the X-RateLimit-* fields
// existing clients read, and the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers): the policy "calls" allows q
// calls in a window of w seconds (this calendar month); r are left and the
// window ends in t seconds. It runs on every request: the values are
// formatted into one string and one slice (two allocations).
func setLimitHeaders(h http.Header, c meterState, now time.Time) {
	window := int64(c.ResetsAt.Sub(c.ResetsAt.AddDate(0, -1, 0)) / time.Second)
	left := max(int64(c.ResetsAt.Sub(now)/time.Second), 0)
	var buf [160]byte
	var ends [5]int
	b := strconv.AppendInt(buf[:0], c.Limit, 10)
	ends[0] = len(b)
	b = strconv.AppendInt(b, c.Remaining, 10)
	ends[1] = len(b)
	b = strconv.AppendInt(b, c.ResetsAt.Unix(), 10)
	ends[2] = len(b)
	b = strconv.AppendInt(append(b, `"calls";q=`...), c.Limit, 10)
	b = strconv.AppendInt(append(b, ";w="...), window, 10)
	ends[3] = len(b)
	b = strconv.AppendInt(append(b, `"calls";r=`...), c.Remaining, 10)
	b = strconv.AppendInt(append(b, ";t="...), left, 10)
	ends[4] = len(b)
	v := splitAt(string(b), ends[:])
	h[hRateLimit], h[hRateRemaining], h[hRateReset] = v[0:1:1], v[1:2:2], v[2:3:3]
	h[hRateLimitPolicy], h[hRateLimitIETF] = v[3:4:4], v[4:5:5]
}

func setCreditHeaders(h http.Header, c meterState) {
	var buf [48]byte
	var ends [2]int
	b := strconv.AppendInt(buf[:0], c.Limit, 10)
	ends[0] = len(b)
	b = strconv.AppendInt(b, c.Remaining, 10)
	ends[1] = len(b)
	v := splitAt(string(b), ends[:])
	h[hCreditsLimit], h[hCreditsRemaining] = v[0:1:1], v[1:2:2]
}

// splitAt cuts s at the given ends into substrings (no copies).
func splitAt(s string, ends []int) []string {
	v := make([]string, len(ends))
	start := 0
	for i, e := range ends {
		v[i], start = s[start:e], e
	}
	return v
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// clientIP is the peer address of the request, without the port. It
// slices RemoteAddr ("1.2.3.4:5", "[::1]:5") instead of allocating.
func clientIP(r *http.Request) string {
	a := r.RemoteAddr
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a
	}
	return strings.TrimSuffix(strings.TrimPrefix(a[:i], "["), "]")
}
