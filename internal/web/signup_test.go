package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSignupThrottle: 50 sign-ups posted at once from one address, half
// of them for an email that has an account: exactly SignupFree are
// answered (an account made, or "already exists"), the others 429 with
// Retry-After and the page saying why. Checking whether an email has an
// account costs one of those attempts, like a real sign-up. (SQLite only:
// each answer is a real argon2id hash; the throttle's atomicity is tested
// on both stores in the store package.)
func TestSignupThrottle(t *testing.T) {
	const parallel = 50
	db := testdb.Open(t, "sqlite")
	e := newEnv(t, db)
	_, taken := e.org("pro")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
		bad    []string
		start  = make(chan struct{})
	)
	// Generous: ten 64 MiB hashes under the race detector on a busy machine.
	client := &http.Client{Timeout: 5 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("new%d@example.test", i)
			if i%2 == 0 {
				email = taken
			}
			form := url.Values{"name": {"Mallory"}, "org": {"Probe"}, "email": {email}, "password": {password}}
			req, _ := http.NewRequest("POST", e.srv.URL+"/signup", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			<-start
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad = append(bad, err.Error())
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests {
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 30 {
					bad = append(bad, "Retry-After "+resp.Header.Get("Retry-After"))
				}
				if !strings.Contains(string(body), "Too many sign-up attempts from your network") {
					bad = append(bad, "429 page: "+snippet(string(body)))
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d bad answers, first: %s", len(bad), bad[0])
	}
	answered := status[http.StatusSeeOther] + status[http.StatusConflict]
	if answered != service.SignupFree || status[http.StatusTooManyRequests] != parallel-service.SignupFree {
		t.Fatalf("statuses %v: want %d answered (303 or 409) and %d refused with 429", status, service.SignupFree, parallel-service.SignupFree)
	}
	// Every 303 made an account; no 409 did.
	var users int
	if err := db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM users WHERE email LIKE 'new%'`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != status[http.StatusSeeOther] {
		t.Errorf("%d accounts made, %d sign-ups answered 303", users, status[http.StatusSeeOther])
	}

	// After the wait, one more sign-up goes through, from the same
	// address; an account check in the meantime stays refused.
	e.advance(service.ThrottleBaseWait)
	p := e.browser().post("/signup", url.Values{"name": {"Ada"}, "org": {"Engines"}, "email": {"ada@engines.test"}, "password": {password}})
	expectStatus(t, p, http.StatusSeeOther)
	p = e.browser().post("/signup", url.Values{"name": {"Mallory"}, "org": {"Probe"}, "email": {taken}, "password": {password}})
	expectStatus(t, p, http.StatusTooManyRequests)
	expectNotContains(t, p, "already exists")
}
