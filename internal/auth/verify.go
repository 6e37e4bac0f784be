// Package auth turns the Authorization header of an API request into the
// API key and organisation it belongs to. It keeps a cache of keys and
// organisations that is invalidated by changes pushed from the database
// (see watch.go), never by a timer.
package auth

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Store is what the verifier reads on a cache miss.
type Store interface {
	KeyByDigest(ctx context.Context, digest snapglyph.KeyDigest) (*snapglyph.APIKey, error)
	Org(ctx context.Context, id string) (*snapglyph.Org, error)
}

// DefaultCacheSize bounds the number of cached keys (and organisations).
const DefaultCacheSize = 100_000

// Verifier checks API keys. Its methods are safe for concurrent use.
type Verifier struct {
	store Store
	max   int

	mu   sync.RWMutex
	keys map[snapglyph.KeyDigest]*snapglyph.APIKey
	ids  map[string]snapglyph.KeyDigest // key id → digest, for invalidation
	orgs map[string]*snapglyph.Org

	// gen counts invalidations. A lookup that read the database remembers
	// gen from before the read and caches its result only if gen has not
	// moved since: an invalidation that raced with the read wins.
	gen atomic.Uint64
	// trusted is false while changes may be missed (the notification
	// connection is down); then every lookup goes to the database.
	trusted atomic.Bool

	// Stats, for metrics.
	Hits, Misses, Invalidations atomic.Uint64
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
		keys:  make(map[snapglyph.KeyDigest]*snapglyph.APIKey),
		ids:   make(map[string]snapglyph.KeyDigest),
		orgs:  make(map[string]*snapglyph.Org),
	}
	v.trusted.Store(true)
	return v
}

// Verify returns the active key and its organisation for a full API key.
// It returns EUNAUTHORIZED with reason malformed_api_key, invalid_api_key,
// api_key_paused or api_key_revoked. It does not check the plan. A cached
// key costs no allocation; the returned values must not be modified.
func (v *Verifier) Verify(ctx context.Context, key string) (*snapglyph.APIKey, *snapglyph.Org, error) {
	if err := snapglyph.CheckKey(key); err != nil {
		return nil, nil, err
	}
	digest := snapglyph.DigestKey(key)
	if v.trusted.Load() {
		v.mu.RLock()
		k := v.keys[digest]
		var o *snapglyph.Org
		if k != nil {
			o = v.orgs[k.OrgID]
		}
		v.mu.RUnlock()
		if k != nil && o != nil {
			v.Hits.Add(1)
			return k, o, k.Err()
		}
	}
	v.Misses.Add(1)
	return v.load(ctx, digest)
}

// load reads a key and its organisation from the database and caches them
// unless an invalidation happened meanwhile.
func (v *Verifier) load(ctx context.Context, digest snapglyph.KeyDigest) (*snapglyph.APIKey, *snapglyph.Org, error) {
	gen := v.gen.Load()
	k, err := v.store.KeyByDigest(ctx, digest)
	if snapglyph.ErrorCode(err) == snapglyph.ENOTFOUND {
		return nil, nil, snapglyph.Reasonf(snapglyph.EUNAUTHORIZED, "invalid_api_key",
			"the API key is well-formed but unknown: it was never issued, or was mistyped; check it in API Settings")
	} else if err != nil {
		return nil, nil, err
	}
	o, err := v.store.Org(ctx, k.OrgID)
	if err != nil {
		return nil, nil, err
	}
	v.mu.Lock()
	if v.trusted.Load() && v.gen.Load() == gen {
		if len(v.keys) >= v.max {
			v.evictLocked()
		}
		v.keys[digest] = k
		v.ids[k.ID] = digest
		v.orgs[k.OrgID] = o
	}
	v.mu.Unlock()
	return k, o, k.Err()
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
