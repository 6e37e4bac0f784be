package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Dashboard sessions end after SessionIdleTimeout without a request, and
// SessionMaxAge after sign-in whatever the activity.
const (
	SessionIdleTimeout = 12 * time.Hour
	SessionMaxAge      = 7 * 24 * time.Hour
	// sessionTouchEvery spares a write per request: activity is recorded
	// at most once a minute, which is precise enough for a 12-hour limit.
	sessionTouchEvery = time.Minute
)

// Sign-in throttling. Failures are counted per account (the email typed,
// whether or not it has an account, so the answer discloses nothing) and
// per network (the IPv4 address, or the IPv6 /64); a count starts again
// after ThrottleWindow without a failure. From the free failures on, each
// failure makes the next attempt wait, doubling from ThrottleBaseWait up
// to ThrottleMaxWait, and while it lasts no password is checked: someone
// guessing gets about a dozen tries an hour, while the real owner who
// mistypes is never kept out for more than a few minutes. A success clears
// the account's count (not the network's).
const (
	ThrottleWindow      = 15 * time.Minute
	ThrottleAccountFree = 5
	ThrottleNetworkFree = 30
	ThrottleBaseWait    = 30 * time.Second
	ThrottleMaxWait     = 5 * time.Minute
)

// Sign-up attempts (each an argon2id hash, and a new organisation or the
// answer that the email has an account) are counted per network too:
// from the SignupFree-th within SignupWindow of each other, the next one
// waits as a failed sign-in does. Every attempt with a well-formed form
// counts, whether or not the email has an account, so the form cannot be
// used to find out cheaply which emails have accounts: each answer costs
// a password hash, as long as a real sign-up's, and one of these
// attempts.
const (
	SignupWindow = time.Hour
	SignupFree   = 10
)

// Session and invitation tokens carry 256 random bits.
const (
	sessionTokenBytes    = 32
	invitationTokenBytes = 32
)

// throttleWait is the wait after the n-th counted attempt.
func throttleWait(free int64) func(n int64) time.Duration {
	return func(n int64) time.Duration {
		if n < free {
			return 0
		}
		if shift := n - free; shift < 10 {
			return min(ThrottleBaseWait<<shift, ThrottleMaxWait)
		}
		return ThrottleMaxWait
	}
}

// ThrottledError is the error for a sign-in (or sign-up) refused, without
// checking the password, because of earlier attempts. It carries the wait.
type ThrottledError struct {
	RetryAfter time.Duration
	err        *snapglyph.Error
}

func (e *ThrottledError) Error() string { return e.err.Error() }

// Unwrap gives the *snapglyph.Error (ERATELIMIT) to errors.As.
func (e *ThrottledError) Unwrap() error { return e.err }

func throttled(wait time.Duration, reason, what string) error {
	return &ThrottledError{RetryAfter: wait, err: snapglyph.Codef(snapglyph.ERATELIMIT, reason,
		"%s. For your security, wait %s before trying again.", what, humanWait(wait))}
}

func humanWait(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	switch {
	case s <= 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 120:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", (s+59)/60)
	}
}

// passwordSlots bounds concurrent argon2id computations (64 MiB each), so
// a burst of sign-ins cannot exhaust memory.
var passwordSlots = make(chan struct{}, 4)

func withPasswordSlot[T any](ctx context.Context, fn func() T) (T, error) {
	select {
	case passwordSlots <- struct{}{}:
		defer func() { <-passwordSlots }()
		return fn(), nil
	case <-ctx.Done():
		var zero T
		return zero, snapglyph.Errorf(snapglyph.EUNAVAILABLE, "the server is busy; try again in a few seconds")
	}
}

func hashPassword(ctx context.Context, password string) (string, error) {
	type result struct {
		hash string
		err  error
	}
	r, err := withPasswordSlot(ctx, func() result {
		h, err := HashPassword(password)
		return result{h, err}
	})
	if err != nil {
		return "", err
	}
	return r.hash, r.err
}

func checkPassword(ctx context.Context, hash, password string) (bool, error) {
	return withPasswordSlot(ctx, func() bool { return CheckPassword(hash, password) })
}

// dummyHash is checked against when an email has no account, so an answer
// takes as long whether or not the account exists.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword(newToken(16))
	return h
})

// newToken returns n random bytes, base64url-encoded.
func newToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenDigest is what the database stores for a session or invitation
// token: the hex SHA-256. The tokens carry 256 random bits, so a plain
// hash is enough (no salt or stretching needed).
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validToken reports whether s looks like a token of ours, before any
// database lookup.
func validToken(s string, n int) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// Client is where a dashboard request comes from.
type Client struct {
	IP        string
	UserAgent string
}

// NewSession is a session just started: the only time its token exists
// outside the browser's cookie.
type NewSession struct {
	*snapglyph.Session
	Token string
}

func (s *Service) startSession(ctx context.Context, userID, orgID string, c Client, expires time.Time, replace string) (*NewSession, error) {
	now := s.db.Now().UTC()
	if expires.IsZero() {
		expires = now.Add(SessionMaxAge)
	}
	token := newToken(sessionTokenBytes)
	st := &snapglyph.Session{ID: tokenDigest(token), UserID: userID, OrgID: orgID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: expires, IP: c.IP, UserAgent: truncateUA(c.UserAgent)}
	old := ""
	if replace != "" {
		old = tokenDigest(replace)
	}
	if err := s.db.CreateSession(ctx, st, old); err != nil {
		return nil, err
	}
	full, err := s.db.Session(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	return &NewSession{Session: full, Token: token}, nil
}

// truncateUA makes a session's user agent storable (snapglyph.Storable):
// valid UTF-8 without control or format characters, cut on a character
// boundary.
func truncateUA(ua string) string {
	return snapglyph.Storable(ua, 512)
}

// SignUp is the input of the sign-up form.
type SignUp struct {
	Name     string
	OrgName  string
	Email    string
	Password string
}

// SignUp creates an account: a user with a password, and a new
// organisation on the 14-day Pro trial with the user as its Owner; then it
// signs the user in. Whether sign-up is open is the caller's decision.
// Returns EINVALID (with a problem per field), ECONFLICT if the email has
// an account, and ERATELIMIT (a *ThrottledError) after SignupFree
// attempts from one network in SignupWindow. The existing account is
// found by the insert itself, after the throttle and the password hash,
// so that answer costs and takes what a successful sign-up does.
func (s *Service) SignUp(ctx context.Context, in SignUp, c Client) (*NewSession, error) {
	var fields []snapglyph.FieldError
	name, err := normalizePersonName(in.Name)
	if err != nil {
		fields = append(fields, snapglyph.FieldError{Field: "name", Message: snapglyph.ErrorMessage(err)})
	}
	orgName, err := snapglyph.NormalizeOrgName(in.OrgName)
	if err != nil {
		fields = append(fields, snapglyph.FieldError{Field: "org", Message: snapglyph.ErrorMessage(err)})
	}
	email, err := normalizeEmail(in.Email)
	if err != nil {
		msg := "enter an email address such as you@example.com"
		if p := snapglyph.TextProblem(in.Email); p != "" {
			msg = "the email address " + p
		}
		fields = append(fields, snapglyph.FieldError{Field: "email", Message: msg})
	}
	if msg := PasswordProblem(in.Password); msg != "" {
		fields = append(fields, snapglyph.FieldError{Field: "password", Message: msg})
	}
	if len(fields) > 0 {
		return nil, &snapglyph.Error{Kind: snapglyph.EINVALID, Message: fields[0].Message, Fields: fields}
	}
	network := "signup:" + networkOf(c.IP)
	allowed, until, err := s.db.TryAttempt(ctx, network, SignupWindow, throttleWait(SignupFree))
	if err != nil {
		return nil, err
	}
	if !allowed {
		return nil, throttled(max(until.Sub(s.db.Now()), time.Second), "signup_throttled", "Too many sign-up attempts from your network")
	}
	hash, err := hashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.db.Now().UTC()
	user := &snapglyph.User{ID: snapglyph.NewID("usr"), Email: email, Name: name}
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: orgName, Plan: snapglyph.PlanTrial, TrialEndsAt: now.Add(snapglyph.TrialLength)}
	if err := s.db.CreateAccount(ctx, user, hash, org, c.IP); err != nil {
		return nil, err
	}
	return s.startSession(ctx, user.ID, org.ID, c, time.Time{}, "")
}

func normalizePersonName(s string) (string, error) {
	s, msg := snapglyph.NormalizeName(s)
	if msg != "" {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "the name %s", msg)
	}
	if n := utf8.RuneCountInString(s); n == 0 || n > 100 {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "enter your name (1 to 100 characters)")
	}
	return s, nil
}

// throttleKeys returns the account's and the network's throttle keys.
// The account's is a digest of the email: the row is written for every
// failed sign-in, account or not, and what was typed as the email may be
// a password or an API key pasted into the wrong field.
func throttleKeys(email, ip string) (account, network string) {
	sum := sha256.Sum256([]byte(email))
	return "email:" + hex.EncodeToString(sum[:]), "ip:" + networkOf(ip)
}

// networkOf is the IPv4 address, or the /64 of an IPv6 address (one
// subscriber usually has a whole /64).
func networkOf(ip string) string {
	a := net.ParseIP(ip)
	if a == nil {
		return ip
	}
	if a.To4() != nil {
		return a.To4().String()
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func (s *Service) checkThrottle(ctx context.Context, account, network string) error {
	until, which, err := s.db.BlockedUntil(ctx, account, network)
	if err != nil {
		return err
	}
	if wait := until.Sub(s.db.Now()); wait > 0 {
		what := "Too many failed sign-in attempts from your network"
		if which == account {
			what = "Too many failed sign-in attempts for this account"
		}
		return throttled(wait, "signin_throttled", what)
	}
	return nil
}

// verifyPassword checks email and password against the throttle and the
// stored hash. Returns ERATELIMIT (a *ThrottledError) and EUNAUTHORIZED.
func (s *Service) verifyPassword(ctx context.Context, email, password, ip string) (*snapglyph.User, error) {
	email = emailKey(email)
	account, network := throttleKeys(email, ip)
	if err := s.checkThrottle(ctx, account, network); err != nil {
		return nil, err
	}
	user, hash, err := s.userByEmail(ctx, email)
	if err != nil && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
		return nil, err
	}
	if hash == "" {
		hash = dummyHash()
	}
	ok, err := checkPassword(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if ok && user != nil {
		if err := s.db.ClearAttempts(ctx, account); err != nil {
			return nil, err
		}
		return user, nil
	}
	accountUntil, err := s.db.CountAttempt(ctx, account, ThrottleWindow, throttleWait(ThrottleAccountFree))
	if err != nil {
		return nil, err
	}
	networkUntil, err := s.db.CountAttempt(ctx, network, ThrottleWindow, throttleWait(ThrottleNetworkFree))
	if err != nil {
		return nil, err
	}
	msg := "The email or password is not right."
	if until := later(accountUntil, networkUntil); !until.IsZero() {
		msg += " Too many failed attempts: wait " + humanWait(until.Sub(s.db.Now())) + " before trying again."
	}
	return nil, snapglyph.Codef(snapglyph.EUNAUTHORIZED, "signin_failed", "%s", msg)
}

// userByEmail finds the user of an email address and its password hash
// (ENOTFOUND if none). key is the address as emailKey spells it; an
// account stored before addresses were normalised (in another Unicode
// form) is found by the spelling typed, lower-cased, as it was then.
func (s *Service) userByEmail(ctx context.Context, typed string) (*snapglyph.User, string, error) {
	key := emailKey(typed)
	user, hash, err := s.db.UserByEmail(ctx, key)
	if legacy := strings.ToLower(strings.TrimSpace(typed)); snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND && legacy != key {
		return s.db.UserByEmail(ctx, legacy)
	}
	return user, hash, err
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// SignIn checks an email and password and starts a session in the user's
// first organisation. replace is the token of the session the browser
// had, if any: it ends, so each sign-in gets a new token. Returns
// EINVALID for an email that is not text (a NUL, invalid UTF-8),
// EUNAUTHORIZED for a wrong email or password, ERATELIMIT (a
// *ThrottledError) after too many failures, and EFORBIDDEN for a user who
// belongs to no organisation.
func (s *Service) SignIn(ctx context.Context, email, password string, c Client, replace string) (*NewSession, error) {
	if err := snapglyph.CheckText("email", email); err != nil {
		return nil, err
	}
	user, err := s.verifyPassword(ctx, email, password, c.IP)
	if err != nil {
		return nil, err
	}
	ms, err := s.db.Memberships(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "your account is not a member of any organisation any more; ask an Owner or Admin to invite you again")
	}
	return s.startSession(ctx, user.ID, ms[0].OrgID, c, time.Time{}, replace)
}

// Session returns the signed-in session for a cookie's token, and records
// the activity. Returns EUNAUTHORIZED if there is no such session, it was
// idle for SessionIdleTimeout, it is older than SessionMaxAge, or the user
// has left the organisation (an ended session is deleted).
func (s *Service) Session(ctx context.Context, token string) (*snapglyph.Session, error) {
	if !validToken(token, sessionTokenBytes) {
		return nil, snapglyph.Codef(snapglyph.EUNAUTHORIZED, "no_session", "please sign in")
	}
	id := tokenDigest(token)
	st, err := s.db.Session(ctx, id)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil, snapglyph.Codef(snapglyph.EUNAUTHORIZED, "no_session", "your session has ended; please sign in again")
	} else if err != nil {
		return nil, err
	}
	now := s.db.Now()
	if !now.Before(st.ExpiresAt) || now.Sub(st.LastSeenAt) >= SessionIdleTimeout {
		if err := s.db.DeleteSession(ctx, id); err != nil {
			return nil, err
		}
		return nil, snapglyph.Codef(snapglyph.EUNAUTHORIZED, "session_expired", "your session has expired; please sign in again")
	}
	if now.Sub(st.LastSeenAt) >= sessionTouchEvery {
		if err := s.db.TouchSession(ctx, id, now); err != nil {
			return nil, err
		}
		st.LastSeenAt = now.UTC()
	}
	return st, nil
}

// SignOut ends the session of the token on the server.
func (s *Service) SignOut(ctx context.Context, token string) error {
	if !validToken(token, sessionTokenBytes) {
		return nil
	}
	return s.db.DeleteSession(ctx, tokenDigest(token))
}

// Memberships lists the organisations a user belongs to.
func (s *Service) Memberships(ctx context.Context, userID string) ([]*snapglyph.Membership, error) {
	return s.db.Memberships(ctx, userID)
}

// SwitchOrg moves a signed-in user to another organisation they belong
// to, with a new session token; the session's absolute end stays. Returns
// ENOTFOUND if the user is not a member.
func (s *Service) SwitchOrg(ctx context.Context, st *snapglyph.Session, token, orgID string, c Client) (*NewSession, error) {
	if _, err := s.db.Role(ctx, orgID, st.UserID); err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "you are not a member of that organisation")
		}
		return nil, err
	}
	return s.startSession(ctx, st.UserID, orgID, c, st.ExpiresAt, token)
}

// OtherSessions counts the user's live sessions other than st, in every
// organisation (the profile page's "signed in elsewhere").
func (s *Service) OtherSessions(ctx context.Context, st *snapglyph.Session) (int, error) {
	return s.db.OtherSessions(ctx, st.UserID, st.ID, s.db.Now().Add(-SessionIdleTimeout))
}

// SignOutOthers ends every session of the signed-in user but st, in every
// organisation ("sign out everywhere else"), and returns how many live
// sessions ended.
func (s *Service) SignOutOthers(ctx context.Context, st *snapglyph.Session) (int, error) {
	return s.db.EndOtherSessions(ctx, st.UserID, st.ID, s.db.Now().Add(-SessionIdleTimeout))
}

// SessionListLimit is how many sessions the profile page lists at most;
// "sign out everywhere else" ends them all.
const SessionListLimit = 100

// Sessions lists the signed-in person's live sessions in every
// organisation they belong to: st first (marked Current), then the others,
// the most recently used first; at most SessionListLimit in all. Each is
// named by its SessionRef, never by its id.
func (s *Service) Sessions(ctx context.Context, st *snapglyph.Session) ([]*snapglyph.LiveSession, error) {
	list, err := s.db.LiveSessions(ctx, st.UserID, s.db.Now().Add(-SessionIdleTimeout), SessionListLimit)
	if err != nil {
		return nil, err
	}
	ref := snapglyph.SessionRef(st.ID)
	out := make([]*snapglyph.LiveSession, 1, len(list)+1)
	for _, l := range list {
		if l.Ref == ref {
			l.Current = true
			out[0] = l
			continue
		}
		out = append(out, l)
	}
	if out[0] == nil {
		// Beyond the limit (a hundred others used within the minute
		// since this one was last recorded): this one still comes first.
		org, err := s.db.Org(ctx, st.OrgID)
		if err != nil {
			return nil, err
		}
		out[0] = &snapglyph.LiveSession{Ref: ref, OrgID: st.OrgID, OrgName: org.Name, CreatedAt: st.CreatedAt, LastSeenAt: st.LastSeenAt,
			ExpiresAt: st.ExpiresAt, IP: st.IP, UserAgent: st.UserAgent, Current: true}
		out = out[:min(len(out), SessionListLimit)]
	}
	return out, nil
}

// EndSession ends one of the signed-in person's other sessions, in any of
// their organisations, named by its SessionRef (from Sessions), and
// returns it as it was. Returns EINVALID if ref names st itself (signing
// out ends that one), and ENOTFOUND if the person has no live session
// with that reference: another person's session is never found, nor one
// that has already ended or expired.
func (s *Service) EndSession(ctx context.Context, st *snapglyph.Session, ref string) (*snapglyph.LiveSession, error) {
	if ref == snapglyph.SessionRef(st.ID) {
		return nil, snapglyph.Codef(snapglyph.EINVALID, "current_session", "that is the session you are using; use Sign out to end it")
	}
	gone := snapglyph.Codef(snapglyph.ENOTFOUND, "no_session", "that session was not found: it has already ended (signed out or expired), or it is not one of yours")
	if !validRef(ref) {
		return nil, gone
	}
	ended, err := s.db.EndSessionByRef(ctx, st.UserID, ref, s.db.Now().Add(-SessionIdleTimeout))
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil, gone
	} else if err != nil {
		return nil, err
	}
	return ended, nil
}

// validRef reports whether s has the form of a SessionRef (32 lower-case
// hex digits), before any database work.
func validRef(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// PasswordChanged is the result of ChangePassword: the session that goes
// on with a new token, and how many other sessions ended.
type PasswordChanged struct {
	*NewSession
	Ended int
}

// ChangePassword changes the signed-in user's password. The current
// password is checked as a sign-in checks it (with the same throttle, per
// account and per network); the new one follows the rules of sign-up
// (PasswordProblem) and must differ from it. Every other session of the
// user ends, and this one goes on with a new token (token is the
// cookie's, replaced), in one transaction; each organisation of the user
// gets a user.password_changed audit event. Returns EINVALID (with the
// field: current_password or new_password), EUNAUTHORIZED (the current
// password is wrong), ERATELIMIT (a *ThrottledError).
func (s *Service) ChangePassword(ctx context.Context, st *snapglyph.Session, token, current, next string, c Client) (*PasswordChanged, error) {
	field := func(name, msg string) error {
		return &snapglyph.Error{Kind: snapglyph.EINVALID, Message: msg, Fields: []snapglyph.FieldError{{Field: name, Message: msg}}}
	}
	if current == "" {
		return nil, field("current_password", "enter your current password")
	}
	if len(current) > MaxPasswordBytes {
		return nil, field("current_password", "the current password is not right")
	}
	if msg := PasswordProblem(next); msg != "" {
		return nil, field("new_password", msg)
	}
	if next == current {
		return nil, field("new_password", "the new password is the current one; choose another")
	}
	user, err := s.verifyPassword(ctx, st.Email, current, c.IP)
	if snapglyph.ErrorCode(err) == "signin_failed" {
		msg := strings.Replace(snapglyph.ErrorMessage(err), "The email or password is not right.", "The current password is not right.", 1)
		return nil, &snapglyph.Error{Kind: snapglyph.EUNAUTHORIZED, Code: "password_wrong", Message: msg,
			Fields: []snapglyph.FieldError{{Field: "current_password", Message: msg}}}
	} else if err != nil {
		return nil, err
	}
	if user.ID != st.UserID {
		return nil, snapglyph.Errorf(snapglyph.EUNAUTHORIZED, "your session has ended; please sign in again")
	}
	hash, err := hashPassword(ctx, next)
	if err != nil {
		return nil, err
	}
	now := s.db.Now().UTC()
	tok := newToken(sessionTokenBytes)
	ns := &snapglyph.Session{ID: tokenDigest(tok), UserID: st.UserID, OrgID: st.OrgID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: st.ExpiresAt, IP: c.IP, UserAgent: truncateUA(c.UserAgent)}
	_, ended, err := s.db.SetPassword(ctx, st.UserID, hash, tokenDigest(token), ns, s.db.Now().Add(-SessionIdleTimeout), "user.password_changed", st.Actor(c.IP))
	if err != nil {
		return nil, err
	}
	full, err := s.db.Session(ctx, ns.ID)
	if err != nil {
		return nil, err
	}
	return &PasswordChanged{NewSession: &NewSession{Session: full, Token: tok}, Ended: ended}, nil
}

// SetPassword sets the password of the account with the email: the
// operator's reset of a forgotten password. Every session of the user
// ends, the account's sign-in throttle is cleared, and each organisation
// of the user gets a user.password_reset audit event. It returns the user
// and how many sessions ended. The operator's only. Returns EINVALID,
// EFORBIDDEN, ENOTFOUND.
func (s *Service) SetPassword(ctx context.Context, actor snapglyph.Actor, email, password string) (*snapglyph.User, int, error) {
	if actor.UserID != "" {
		return nil, 0, snapglyph.Errorf(snapglyph.EFORBIDDEN, "only the operator sets a password; change yours on your profile page")
	}
	addr, err := normalizeEmail(email)
	if err != nil {
		return nil, 0, err
	}
	if msg := PasswordProblem(password); msg != "" {
		return nil, 0, snapglyph.Codef(snapglyph.EINVALID, "weak_password", "%s", msg)
	}
	user, _, err := s.userByEmail(ctx, email)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil, 0, snapglyph.Errorf(snapglyph.ENOTFOUND, "no account has the email %s", addr)
	} else if err != nil {
		return nil, 0, err
	}
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return nil, 0, err
	}
	_, ended, err := s.db.SetPassword(ctx, user.ID, hash, "", nil, s.db.Now().Add(-SessionIdleTimeout), "user.password_reset", actor)
	if err != nil {
		return nil, 0, err
	}
	account, _ := throttleKeys(emailKey(user.Email), "")
	if err := s.db.ClearAttempts(ctx, account); err != nil {
		return nil, 0, err
	}
	return user, ended, nil
}
