package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// ScanKeys are the public keys GitHub signs its secret-scanning reports
// with, in GitHub's published format
// ({"public_keys":[{"key_identifier","key" (PEM),"is_current"}]}), read
// from a file or an https URL (GitHub publishes them at
// https://api.github.com/meta/public_keys/secret_scanning). They are read
// once at start, again after MaxAge, and again when a report names a key
// identifier not known yet (at most once per MinRetry), so a rotation at
// GitHub is picked up without a restart. A failed read keeps the keys
// already known. A read happens outside the lock and one at a time:
// while it is under way, a report signed with a key already known is
// verified with it at once, and only one that needs the read waits for
// it.
type ScanKeys struct {
	src    string
	client *http.Client
	// MaxAge is how long keys are used before they are read again
	// (default 1 hour); MinRetry the least time between two reads
	// (default 1 minute).
	MaxAge, MinRetry time.Duration

	mu     sync.Mutex
	keys   map[string]*ecdsa.PublicKey
	loaded time.Time // when keys were last read successfully
	tried  time.Time // when a read was last attempted
	reads  int
	// flight is closed when the read under way ends (nil: none is);
	// lastErr is the last read's error.
	flight  chan struct{}
	lastErr error
}

// Defaults of ScanKeys.
const (
	DefaultScanKeysMaxAge   = time.Hour
	DefaultScanKeysMinRetry = time.Minute
	maxScanKeysBytes        = 1 << 20
)

// NewScanKeys returns the keys of src: a file path or an https:// URL,
// fetched with client (nil: a client with a 10 s timeout). Nothing is
// read yet; call Load. Returns EINVALID for a URL that is not https.
func NewScanKeys(src string, client *http.Client) (*ScanKeys, error) {
	if src == "" {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "no secret-scanning keys given")
	}
	if strings.Contains(src, "://") {
		u, err := url.Parse(src)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "secret-scanning keys come from a file or an https:// URL (such as https://api.github.com/meta/public_keys/secret_scanning), not %q", src)
		}
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &ScanKeys{src: src, client: client, MaxAge: DefaultScanKeysMaxAge, MinRetry: DefaultScanKeysMinRetry}, nil
}

// Source returns where the keys are read from.
func (k *ScanKeys) Source() string { return k.src }

// Reads returns how many times the keys were read (for tests).
func (k *ScanKeys) Reads() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reads
}

// Load reads the keys now (or waits for the read under way).
func (k *ScanKeys) Load(ctx context.Context) error {
	return k.refresh(ctx, true)
}

// errUnknownScanKey: no key has the identifier, even after a fresh read.
var errUnknownScanKey = errors.New("unknown key identifier")

// Key returns the public key with the identifier, reading the keys again
// if they are old or do not have it. While a read is under way a known
// key is returned at once; an unknown one waits for the read. It returns
// errUnknownScanKey, or the read's error when no keys could be read at
// all.
func (k *ScanKeys) Key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	now := time.Now()
	pub, known := k.keys[id]
	stale := k.keys == nil || now.Sub(k.loaded) > k.MaxAge
	inFlight := k.flight != nil
	due := now.Sub(k.tried) >= k.MinRetry
	k.mu.Unlock()
	var err error
	switch {
	case known && (!stale || inFlight):
		return pub, nil
	case inFlight || due:
		err = k.refresh(ctx, false)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("the secret-scanning keys could not be read yet")
	}
	if pub, known = k.keys[id]; !known {
		return nil, errUnknownScanKey
	}
	return pub, nil
}

// refresh reads the keys, outside the lock; if a read is under way it
// waits for that one instead (or for ctx). Unless force, it reads only
// when MinRetry has passed since the last attempt. It returns the read's
// error; a failed read keeps the keys already known.
func (k *ScanKeys) refresh(ctx context.Context, force bool) error {
	k.mu.Lock()
	if ch := k.flight; ch != nil {
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.lastErr
	}
	if !force && time.Since(k.tried) < k.MinRetry {
		k.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	k.flight, k.tried = ch, time.Now()
	k.reads++
	k.mu.Unlock()

	keys, err := k.fetch(ctx)

	k.mu.Lock()
	if err == nil {
		k.keys, k.loaded = keys, time.Now()
	}
	k.lastErr, k.flight = err, nil
	k.mu.Unlock()
	close(ch)
	return err
}

// fetch reads and parses the key list; it holds no lock.
func (k *ScanKeys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	b, err := k.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("secret-scanning keys from %s: %w", k.src, err)
	}
	keys, err := ParseScanKeys(b)
	if err != nil {
		return nil, fmt.Errorf("secret-scanning keys from %s: %w", k.src, err)
	}
	return keys, nil
}

func (k *ScanKeys) read(ctx context.Context) ([]byte, error) {
	if !strings.Contains(k.src, "://") {
		f, err := os.Open(k.src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readAtMost(f, maxScanKeysBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.src, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	return readAtMost(resp.Body, maxScanKeysBytes)
}

func readAtMost(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("more than %d bytes", n)
	}
	return b, nil
}

// ParseScanKeys reads GitHub's key list: every ECDSA key in it, by
// identifier. Keys of another type are skipped; a list without a usable
// key is an error.
func ParseScanKeys(b []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not GitHub's key list: %w", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, pk := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(pk.Key))
		if pk.KeyIdentifier == "" || block == nil {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		if ec, ok := pub.(*ecdsa.PublicKey); ok {
			keys[pk.KeyIdentifier] = ec
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no ECDSA public key in the list")
	}
	return keys, nil
}
