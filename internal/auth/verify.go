// Package auth turns the Authorization header of an API request into the
// API key and organisation it belongs to. It keeps a cache of keys and
// organisations, and of digests the database does not know, that is
// invalidated by changes pushed from the database (see watch.go), never
// by a timer.
package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Store is what the verifier reads on a cache miss.
type Store interface {
	KeyByDigest(ctx context.Context, digest snapglyph.KeyDigest) (*snapglyph.APIKey, error)
	Org(ctx context.Context, id string) (*snapglyph.Org, error)
}

// DefaultCacheSize bounds the number of cached keys (and organisations,
// and unknown digests).
const DefaultCacheSize = 100_000

// errUnknownKey is the answer for a well-formed key the database does not
// hold. It is one value, so a negative cache hit allocates nothing.
var errUnknownKey = snapglyph.Codef(snapglyph.EUNAUTHORIZED, "invalid_api_key",
	"the API key is well-formed but unknown: it was never issued, or was mistyped; check it in API Settings")

// Verifier checks API keys. Its methods are safe for concurrent use.
type Verifier struct {
	store Store
	max   int
	// Now is the clock keys are checked against: an expiry, the end of a
	// roll's overlap and the end of a timed pause are in force at their
	// moment, on every node, without a change event. Set it before use.
	Now func() time.Time

	mu   sync.RWMutex
	keys map[snapglyph.KeyDigest]*snapglyph.APIKey
	ids  map[string]snapglyph.KeyDigest // key id → digest, for invalidation
	orgs map[string]*snapglyph.Org
	// unknown holds digests of well-formed keys the database did not
	// hold when read (a negative cache), so a client repeating a wrong
	// key costs no database read. A key creation anywhere empties it
	// (ForgetUnknown), which is what lets a new key work at once.
	unknown map[snapglyph.KeyDigest]struct{}
	// seen holds the key and organisation last read for each digest,
	// kept when the cache is emptied: a key's id and organisation never
	// change, so a request whose key cannot be checked (the database
	// away) can still be attributed to them in the request log.
	seen map[snapglyph.KeyDigest]identity

	// gen counts invalidations. A lookup that read the database remembers
	// gen from before the read and caches its result only if gen has not
	// moved since: an invalidation that raced with the read wins.
	gen atomic.Uint64
	// trusted is false while changes may be missed (the notification
	// connection is down); then every lookup goes to the database.
	trusted atomic.Bool

	// Stats, for metrics. UnknownHits counts the verifications answered
	// "unknown" from the negative cache (they are not counted in Hits).
	Hits, Misses, Invalidations, UnknownHits atomic.Uint64
}

// NewVerifier returns a verifier reading store, caching up to size keys.
// It starts trusted; a watcher that is not yet connected calls
// SetTrusted(false) before serving.
func NewVerifier(store Store, size int) *Verifier {
	if size <= 0 {
		size = DefaultCacheSize
	}
	v := &Verifier{
		store: store,
		max:   size,
		Now:   time.Now,
		keys:  make(map[snapglyph.KeyDigest]*snapglyph.APIKey),
		ids:   make(map[string]snapglyph.KeyDigest),
		orgs:  make(map[string]*snapglyph.Org),

		unknown: make(map[snapglyph.KeyDigest]struct{}),
		seen:    make(map[snapglyph.KeyDigest]identity),
	}
	v.trusted.Store(true)
	return v
}

// Verify returns the usable key and its organisation for a full API key,
// checked at the verifier's clock (see VerifyAt).
func (v *Verifier) Verify(ctx context.Context, key string) (*snapglyph.APIKey, *snapglyph.Org, error) {
	return v.VerifyAt(ctx, key, v.Now())
}

// VerifyAt returns the usable key and its organisation for a full API key
// at time now. It returns EUNAUTHORIZED with code malformed_api_key,
// invalid_api_key, api_key_revoked, api_key_expired or api_key_paused
// (checked in that order; see snapglyph.APIKey.ErrAt). It does not check
// the plan, the IP allowlist or the scopes. A cached key, and a cached
// unknown key, cost no allocation; the returned values must not be
// modified.
func (v *Verifier) VerifyAt(ctx context.Context, key string, now time.Time) (*snapglyph.APIKey, *snapglyph.Org, error) {
	k, o, ok, err := v.VerifyCachedAt(key, now)
	if ok {
		return k, o, err
	}
	v.Misses.Add(1)
	return v.load(ctx, snapglyph.DigestKey(key), now)
}

// VerifyCached is VerifyCachedAt at the verifier's clock.
func (v *Verifier) VerifyCached(key string) (*snapglyph.APIKey, *snapglyph.Org, bool, error) {
	return v.VerifyCachedAt(key, v.Now())
}

// VerifyCachedAt is VerifyAt without the database: ok is false when the
// answer needs a database read (the key is well-formed but neither cached
// nor known to be unknown, or the cache is not trusted). A malformed key
// is always answered. The cached key is checked against now on every
// call, so an entry cached before its expiry is refused after it.
func (v *Verifier) VerifyCachedAt(key string, now time.Time) (*snapglyph.APIKey, *snapglyph.Org, bool, error) {
	if err := snapglyph.CheckKey(key); err != nil {
		return nil, nil, true, err
	}
	if !v.trusted.Load() {
		return nil, nil, false, nil
	}
	digest := snapglyph.DigestKey(key)
	v.mu.RLock()
	k := v.keys[digest]
	var o *snapglyph.Org
	unknown := false
	if k != nil {
		o = v.orgs[k.OrgID]
	} else {
		_, unknown = v.unknown[digest]
	}
	v.mu.RUnlock()
	switch {
	case k != nil && o != nil:
		v.Hits.Add(1)
		return k, o, true, k.ErrAt(now)
	case unknown:
		v.UnknownHits.Add(1)
		return nil, nil, true, errUnknownKey
	}
	return nil, nil, false, nil
}

// load reads a key and its organisation from the database and caches them
// unless an invalidation happened meanwhile.
func (v *Verifier) load(ctx context.Context, digest snapglyph.KeyDigest, now time.Time) (*snapglyph.APIKey, *snapglyph.Org, error) {
	gen := v.gen.Load()
	k, err := v.store.KeyByDigest(ctx, digest)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		v.cacheUnknown(digest, gen)
		return nil, nil, errUnknownKey
	} else if err != nil {
		return nil, nil, err
	}
	o, err := v.store.Org(ctx, k.OrgID)
	if err != nil {
		return nil, nil, err
	}
	v.mu.Lock()
	if len(v.seen) >= v.max {
		dropTenth(v.seen, v.max)
	}
	v.seen[digest] = identity{k, o}
	if v.trusted.Load() && v.gen.Load() == gen {
		if len(v.keys) >= v.max {
			v.evictLocked()
		}
		v.keys[digest] = k
		v.ids[k.ID] = digest
		v.orgs[k.OrgID] = o
	}
	v.mu.Unlock()
	return k, o, k.ErrAt(now)
}

// cacheUnknown remembers that the database did not hold digest, unless
// an invalidation (a key creation among them) happened since gen was
// read: the key may have been created after the read.
func (v *Verifier) cacheUnknown(digest snapglyph.KeyDigest, gen uint64) {
	v.mu.Lock()
	if v.trusted.Load() && v.gen.Load() == gen {
		if len(v.unknown) >= v.max {
			// A flood of random keys cannot grow memory.
			dropTenth(v.unknown, v.max)
		}
		v.unknown[digest] = struct{}{}
	}
	v.mu.Unlock()
}

// dropTenth deletes about a tenth of max entries from m, in map order
// (random).
func dropTenth[V any](m map[snapglyph.KeyDigest]V, max int) {
	n := max/10 + 1
	for d := range m {
		delete(m, d)
		if n--; n == 0 {
			break
		}
	}
}

// identity is a key and its organisation as last read.
type identity struct {
	key *snapglyph.APIKey
	org *snapglyph.Org
}

// LastSeen returns the key and organisation last read for a full API key,
// cached or not, or nils if this node never read them (or forgot them
// among as many others as the cache holds). They may be out of date (a
// change since is not applied): use them only to say whose a request was
// when the key could not be checked, never to let it through.
func (v *Verifier) LastSeen(key string) (*snapglyph.APIKey, *snapglyph.Org) {
	if snapglyph.CheckKey(key) != nil {
		return nil, nil
	}
	digest := snapglyph.DigestKey(key)
	v.mu.RLock()
	id := v.seen[digest]
	v.mu.RUnlock()
	return id.key, id.org
}

// ForgetUnknown empties the negative cache: a key was created, and its
// digest may be in it.
func (v *Verifier) ForgetUnknown() {
	v.mu.Lock()
	v.gen.Add(1)
	clear(v.unknown)
	v.mu.Unlock()
	v.Invalidations.Add(1)
}

// UnknownCached returns the number of digests in the negative cache.
func (v *Verifier) UnknownCached() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.unknown)
}

// evictLocked drops about a tenth of the cache, in map order (random).
func (v *Verifier) evictLocked() {
	n := v.max/10 + 1
	for d, k := range v.keys {
		delete(v.keys, d)
		delete(v.ids, k.ID)
		if n--; n == 0 {
			break
		}
	}
	if len(v.orgs) >= v.max {
		clear(v.orgs)
	}
}

// InvalidateKey drops a key from the cache.
func (v *Verifier) InvalidateKey(id string) {
	v.mu.Lock()
	v.gen.Add(1)
	if d, ok := v.ids[id]; ok {
		delete(v.keys, d)
		delete(v.ids, id)
	}
	v.mu.Unlock()
	v.Invalidations.Add(1)
}

// InvalidateOrg drops an organisation from the cache.
func (v *Verifier) InvalidateOrg(id string) {
	v.mu.Lock()
	v.gen.Add(1)
	delete(v.orgs, id)
	v.mu.Unlock()
	v.Invalidations.Add(1)
}

// InvalidateAll empties the cache.
func (v *Verifier) InvalidateAll() {
	v.mu.Lock()
	v.gen.Add(1)
	clear(v.keys)
	clear(v.ids)
	clear(v.orgs)
	clear(v.unknown)
	v.mu.Unlock()
	v.Invalidations.Add(1)
}

// SetTrusted turns the cache on or off. Turning it off empties it; while
// it is off, every verification reads the database and nothing is cached.
func (v *Verifier) SetTrusted(ok bool) {
	if !ok {
		v.trusted.Store(false)
		v.InvalidateAll()
		return
	}
	v.InvalidateAll()
	v.trusted.Store(true)
}

// Trusted reports whether the cache is in use.
func (v *Verifier) Trusted() bool { return v.trusted.Load() }
