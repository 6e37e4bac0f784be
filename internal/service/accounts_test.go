package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

const testPassword = "correct horse battery"

// cheapHash is an argon2id hash of testPassword with tiny parameters;
// CheckPassword reads them from the hash, so it verifies like a real one,
// in microseconds.
var cheapHash = func() string {
	salt := []byte("0123456789abcdef")
	sum := argon2.IDKey([]byte(testPassword), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(sum))
}()

var t0 = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// account makes an organisation with an Owner who has testPassword.
func account(t *testing.T, db *testdb.DB, plan snapglyph.Plan) (*snapglyph.Org, *snapglyph.User) {
	t.Helper()
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: plan}
	if plan == snapglyph.PlanTrial {
		org.TrialEndsAt = db.Now().Add(snapglyph.TrialLength)
	}
	u, err := db.CreateOrg(context.Background(), org, strings.ToLower(snapglyph.NewID("o"))+"@acme.test", cheapHash)
	if err != nil {
		t.Fatal(err)
	}
	return org, u
}

var web = service.Client{IP: "203.0.113.5", UserAgent: "test"}

func TestSignUp(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)

		_, err := svc.SignUp(ctx, service.SignUp{Name: " ", OrgName: "", Email: "x", Password: "short"}, web)
		var e *snapglyph.Error
		if !errors.As(err, &e) || e.Kind != snapglyph.EINVALID || len(e.Fields) != 4 {
			t.Fatalf("bad input: %v, want EINVALID with 4 fields", err)
		}
		ns, err := svc.SignUp(ctx, service.SignUp{Name: "  Ada   Lovelace ", OrgName: "Analytical Engines", Email: "Ada@Engines.test", Password: testPassword}, web)
		if err != nil {
			t.Fatal(err)
		}
		if ns.Role != snapglyph.RoleOwner || ns.Email != "ada@engines.test" || ns.Name != "Ada Lovelace" || !ns.ExpiresAt.Equal(t0.Add(service.SessionMaxAge)) {
			t.Errorf("session %+v", ns.Session)
		}
		org, _ := db.Org(ctx, ns.OrgID)
		if org.Plan != snapglyph.PlanTrial || !org.TrialEndsAt.Equal(t0.Add(14*24*time.Hour)) || !org.HasAPI(t0) {
			t.Errorf("org %+v: want a 14-day trial with API access", org)
		}
		_, hash, _ := db.UserByEmail(ctx, "ada@engines.test")
		if !strings.HasPrefix(hash, "$argon2id$") || !service.CheckPassword(hash, testPassword) {
			t.Errorf("password stored as %q", hash)
		}
		if _, err := svc.SignUp(ctx, service.SignUp{Name: "Eve", OrgName: "Evil", Email: "ada@engines.test", Password: "evil password"}, web); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Errorf("email taken: %v, want ECONFLICT", err)
		}
		if _, hash2, _ := db.UserByEmail(ctx, "ada@engines.test"); hash2 != hash {
			t.Error("a second sign-up changed the password")
		}

		// Sign-ups are counted per network: after SignupFree of them (Ada's
		// and as many made here) the next one waits.
		for i := 1; i < service.SignupFree; i++ {
			db.CountAttempt(ctx, "signup:"+web.IP, service.SignupWindow, func(n int64) time.Duration {
				if n >= service.SignupFree {
					return service.ThrottleBaseWait
				}
				return 0
			})
		}
		_, err = svc.SignUp(ctx, service.SignUp{Name: "Bob", OrgName: "Bots", Email: "bot@bots.test", Password: testPassword}, web)
		var te *service.ThrottledError
		if !errors.As(err, &te) || snapglyph.ErrorCode(err) != "signup_throttled" {
			t.Fatalf("sign-up %d from one network: %v, want it refused", service.SignupFree+1, err)
		}
		other := service.Client{IP: "2001:db8:1:2::7"}
		if _, err := svc.SignUp(ctx, service.SignUp{Name: "Carol", OrgName: "C", Email: "carol@c.test", Password: testPassword}, other); err != nil {
			t.Errorf("sign-up from another network: %v", err)
		}
	})
}

func TestSessionTokens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanPro)

		ns, err := svc.SignIn(ctx, strings.ToUpper(owner.Email), testPassword, web, "")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(ns.Token)
		if err != nil || len(raw) < 16 {
			t.Fatalf("token %q: %d random bytes, want at least 16 (128 bits)", ns.Token, len(raw))
		}
		// Stored by its SHA-256 only.
		if _, err := db.Session(ctx, ns.Token); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Error("the token itself finds a session: it is stored in clear")
		}
		sum := sha256.Sum256([]byte(ns.Token))
		if s, err := db.Session(ctx, hex.EncodeToString(sum[:])); err != nil || s.OrgID != org.ID || s.IP != web.IP {
			t.Fatalf("session by digest: %+v %v", s, err)
		}
		if ns.ID == ns.Token || strings.Contains(ns.ID, ns.Token) {
			t.Error("the session id is the token")
		}

		if _, err := svc.Session(ctx, ns.Token); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"", "x", ns.Token + "A", strings.Repeat("A", len(ns.Token))} {
			if _, err := svc.Session(ctx, bad); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
				t.Errorf("token %q: %v, want EUNAUTHORIZED", bad, err)
			}
		}

		// Idle timeout.
		clock.Set(t0.Add(service.SessionIdleTimeout - time.Minute))
		if _, err := svc.Session(ctx, ns.Token); err != nil {
			t.Fatalf("just before the idle timeout: %v", err)
		}
		clock.Set(clock.Now().Add(service.SessionIdleTimeout))
		if _, err := svc.Session(ctx, ns.Token); snapglyph.ErrorCode(err) != "session_expired" {
			t.Fatalf("after the idle timeout: %v", err)
		}
		if _, err := db.Session(ctx, hex.EncodeToString(sum[:])); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Error("an expired session is kept")
		}

		// Sign-in replaces the browser's previous session; sign-out ends it.
		a, _ := svc.SignIn(ctx, owner.Email, testPassword, web, "")
		b, _ := svc.SignIn(ctx, owner.Email, testPassword, web, a.Token)
		if _, err := svc.Session(ctx, a.Token); err == nil {
			t.Error("the replaced session still works")
		}
		if err := svc.SignOut(ctx, b.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Session(ctx, b.Token); err == nil {
			t.Error("the signed-out session still works")
		}
	})
}

// TestSignInFailures: the same answer for an unknown email and a wrong
// password; the account's count blocks the account, not others.
func TestSignInFailures(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		svc := service.New(db.DB)
		_, owner := account(t, db, snapglyph.PlanPro)
		_, err1 := svc.SignIn(ctx, owner.Email, "wrong password", web, "")
		_, err2 := svc.SignIn(ctx, "nobody@acme.test", "wrong password", web, "")
		if snapglyph.ErrorKind(err1) != snapglyph.EUNAUTHORIZED || snapglyph.ErrorMessage(err1) != snapglyph.ErrorMessage(err2) {
			t.Errorf("wrong password: %v; unknown email: %v; want the same EUNAUTHORIZED", err1, err2)
		}
		for i := 2; i <= service.ThrottleAccountFree; i++ {
			svc.SignIn(ctx, owner.Email, "wrong password", web, "")
		}
		_, err := svc.SignIn(ctx, owner.Email, testPassword, web, "")
		var te *service.ThrottledError
		if !errors.As(err, &te) || snapglyph.ErrorKind(err) != snapglyph.ERATELIMIT || te.RetryAfter != service.ThrottleBaseWait {
			t.Fatalf("after %d failures: %v, want ERATELIMIT with a %s wait", service.ThrottleAccountFree, err, service.ThrottleBaseWait)
		}
		// Each failure after a wait doubles it, up to ThrottleMaxWait.
		want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, service.ThrottleMaxWait, service.ThrottleMaxWait}
		for _, w := range want {
			clock.Set(clock.Now().Add(te.RetryAfter))
			svc.SignIn(ctx, owner.Email, "wrong password", web, "")
			_, err = svc.SignIn(ctx, owner.Email, testPassword, web, "")
			if !errors.As(err, &te) || te.RetryAfter != w {
				t.Fatalf("wait %v (%v), want %s", te.RetryAfter, err, w)
			}
		}
		clock.Set(clock.Now().Add(service.ThrottleMaxWait))
		if _, err := svc.SignIn(ctx, owner.Email, testPassword, web, ""); err != nil {
			t.Fatalf("after the longest wait: %v", err)
		}
	})
}

// TestSignInThrottleKeepsNoText: a failed sign-in is counted against
// what was typed as the email, account or not — and that may be a
// password or an API key pasted into the wrong field. The throttle
// keeps a digest of it, never the text.
func TestSignInThrottleKeepsNoText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		key := snapglyph.GenerateKey()
		typed := []string{"Hunter2SecretPw!", key + "@x.test"}
		for _, email := range typed {
			if _, err := svc.SignIn(ctx, email, "x", web, ""); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
				t.Fatalf("sign-in as %.10q: %v", email, err)
			}
		}
		var rows []string
		r, err := db.SQL().QueryContext(ctx, `SELECT subject FROM throttle`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			r.Scan(&s)
			rows = append(rows, s)
		}
		r.Close()
		if len(rows) < 2 {
			t.Fatalf("throttle rows %q: the failures were not counted", rows)
		}
		for _, row := range rows {
			low := strings.ToLower(row)
			if strings.Contains(low, "hunter2") || strings.Contains(low, strings.ToLower(key[8:20])) {
				t.Errorf("the throttle keeps what was typed: %q", row)
			}
		}
	})
}

func TestSeatLimit(t *testing.T) {
	now := t0
	for _, c := range []struct {
		org  snapglyph.Org
		want int
	}{
		{snapglyph.Org{Plan: snapglyph.PlanStarter}, 1},
		{snapglyph.Org{Plan: snapglyph.PlanTrial, TrialEndsAt: now.Add(time.Hour)}, 5},
		{snapglyph.Org{Plan: snapglyph.PlanTrial, TrialEndsAt: now}, 1},
		{snapglyph.Org{Plan: snapglyph.PlanPro}, 5},
		{snapglyph.Org{Plan: snapglyph.PlanMax}, -1},
	} {
		if got := service.SeatLimit(&c.org, now); got != c.want {
			t.Errorf("%s (trial ends %s): %d seats, want %d", c.org.Plan, c.org.TrialEndsAt, got, c.want)
		}
	}
}
