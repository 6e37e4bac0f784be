// Command snapglyph-load sends a bounded load of GET requests to one or
// more URLs on this machine and reports throughput and latency. It is the
// second process of the load benchmarks (scripts/load.sh).
//
//	SNAPGLYPH_LOAD_KEY=qr_live_… snapglyph-load -c 32 -d 10s -n 2000000 http://127.0.0.1:8080/api/v1/usage
//
// The key, if any, is read from the environment so it does not show in
// the process list. Several URLs are used round-robin (one per node).
//
// -rate R paces the requests to R a second in all (request i is sent no
// sooner than i/R seconds after the start); a server that cannot keep up
// gets them as fast as it answers, and the achieved rate says so.
//
// -unknown N sends, instead, N well-formed keys with valid checksums that
// were never issued, round-robin: a flood that repeats its keys. They
// are drawn from -seed, so consecutive runs send the same keys (a warm-up
// run fills the server's negative cache). -unknown -1 draws a new key
// from crypto/rand for every request: a flood of random keys.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

type result struct {
	URLs        []string      `json:"urls"`
	Concurrency int           `json:"concurrency"`
	Requests    int64         `json:"requests"`
	Errors      int64         `json:"errors"`
	Statuses    map[int]int64 `json:"statuses"`
	Seconds     float64       `json:"seconds"`
	RPS         float64       `json:"rps"`
	P50Micros   float64       `json:"p50Micros"`
	P99Micros   float64       `json:"p99Micros"`
	MaxMicros   float64       `json:"maxMicros"`
}

func main() {
	c := flag.Int("c", 32, "concurrent connections")
	d := flag.Duration("d", 10*time.Second, "how long to send (at most 5m)")
	n := flag.Int64("n", 5_000_000, "at most this many requests")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	unknown := flag.Int("unknown", 0, "send N never-issued, checksum-valid keys round-robin (-1: a new one per request) instead of SNAPGLYPH_LOAD_KEY")
	seed := flag.Uint64("seed", 1, "the seed of the -unknown N keys")
	rate := flag.Float64("rate", 0, "send at most this many requests a second in all (0: as fast as answered)")
	flag.Parse()
	if flag.NArg() == 0 || *c < 1 || *d <= 0 || *d > 5*time.Minute || *n < 1 || *unknown < -1 || *unknown > 1_000_000 || *rate < 0 || *rate > 1e6 {
		fmt.Fprintln(os.Stderr, "usage: snapglyph-load [-c N] [-d DURATION<=5m] [-n MAX] [-rate R<=1000000] [-unknown N<=1000000|-1] URL [URL…]")
		os.Exit(2)
	}
	for _, u := range flag.Args() {
		pu, err := url.Parse(u)
		if err != nil || (pu.Hostname() != "127.0.0.1" && pu.Hostname() != "localhost" && pu.Hostname() != "::1") {
			fmt.Fprintf(os.Stderr, "snapglyph-load: %s: only loopback targets are allowed\n", u)
			os.Exit(2)
		}
	}
	r := run(flag.Args(), *c, *d, *n, *rate, keySource(*unknown, *seed, os.Getenv("SNAPGLYPH_LOAD_KEY")))
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("%d requests in %.1fs: %.0f req/s, p50 %.0fµs, p99 %.0fµs, max %.0fµs, errors %d, statuses %v\n",
		r.Requests, r.Seconds, r.RPS, r.P50Micros, r.P99Micros, r.MaxMicros, r.Errors, r.Statuses)
}

// keySource returns the key to send with request i ("" for none).
func keySource(unknown int, seed uint64, key string) func(i int) string {
	switch {
	case unknown == -1:
		return func(int) string { return snapglyph.GenerateKey() }
	case unknown > 0:
		rng := rand.New(rand.NewPCG(seed, 0))
		pool := make([]string, unknown)
		for i := range pool {
			pool[i] = seededKey(rng)
		}
		return func(i int) string { return pool[i%len(pool)] }
	}
	return func(int) string { return key }
}

// seededKey makes a well-formed key from rng: 26 base62 characters and
// their CRC-32 in 6 base62 characters, as DESIGN.md §3 describes. It
// exits if the service's own check disagrees.
func seededKey(rng *rand.Rand) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte("qr_live_")
	for range 26 {
		b = append(b, base62[rng.IntN(62)])
	}
	c := crc32.ChecksumIEEE(b)
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = base62[c%62]
		c /= 62
	}
	key := string(append(b, sum[:]...))
	if err := snapglyph.CheckKey(key); err != nil {
		fmt.Fprintf(os.Stderr, "snapglyph-load: the keys it makes are refused as malformed (%s); update seededKey\n", snapglyph.ErrorCode(err))
		os.Exit(1)
	}
	return key
}

func run(urls []string, conc int, d time.Duration, max int64, rate float64, keyFor func(i int) string) result {
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var sent, errs atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int64{}
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := map[int]int64{}
			samples := make([]time.Duration, 0, 1<<16)
			for i := w; ctx.Err() == nil; i++ {
				seq := sent.Add(1) // also numbers the keys, across workers
				if seq > max {
					break
				}
				if rate > 0 {
					if wait := time.Until(start.Add(time.Duration(float64(seq-1) / rate * float64(time.Second)))); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							continue // the loop ends; the request was never sent
						}
					}
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", urls[i%len(urls)], nil)
				if key := keyFor(int(seq - 1)); key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				samples = append(samples, time.Since(t0))
				local[resp.StatusCode]++
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			lat[w] = samples
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(int(p*float64(len(all))), len(all)-1)].Microseconds())
	}
	return result{URLs: urls, Concurrency: conc, Requests: int64(len(all)), Errors: errs.Load(), Statuses: statuses,
		Seconds: elapsed, RPS: float64(len(all)) / elapsed, P50Micros: q(0.50), P99Micros: q(0.99), MaxMicros: q(1)}
}
