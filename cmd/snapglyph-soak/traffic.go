package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// requestTimeout bounds every request; nothing legitimate takes this long.
const requestTimeout = 15 * time.Second

// call is one request the soak sends and counts.
type call struct {
	method, path, query string
	body                []byte
	contentType         string
	key                 *apiKey // a traffic key, counted for its organisation; or nil
	auth                string  // the Authorization header when key is nil (or "" for none)
	raw                 []byte  // a hand-written request (hostile headers), sent as is
	expectRefusal       string  // the request must be refused: why
}

// worker sends requests to its node (the next live one once its node is
// killed) until ctx ends.
func (s *soak) worker(ctx context.Context, w int) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for ctx.Err() == nil {
		n := s.liveNode(w)
		if n == nil {
			return
		}
		c := s.nextCall(rng)
		s.send(ctx, client, n, c)
	}
}

func (s *soak) liveNode(w int) *node {
	for i := range s.nodes {
		n := s.nodes[(w+i)%len(s.nodes)]
		if !n.killed.Load() {
			return n
		}
	}
	return nil
}

// pickOrg chooses an organisation by weight.
func (s *soak) pickOrg(rng *rand.Rand) *org {
	total := 0
	for _, o := range s.orgs {
		total += o.weight
	}
	n := rng.IntN(total)
	for _, o := range s.orgs {
		if n < o.weight {
			return o
		}
		n -= o.weight
	}
	return s.orgs[0]
}

// nextCall chooses the next request: mostly ordinary API use, some with
// refused keys, some with hostile headers or bodies.
func (s *soak) nextCall(rng *rand.Rand) call {
	o := s.pickOrg(rng)
	k := o.keys[rng.IntN(len(o.keys))]
	switch p := rng.IntN(100); {
	case p < 15:
		return call{method: "GET", path: "/api/v1/usage", key: k}
	case p < 30:
		return createCall(rng, k)
	case p < 38:
		return call{method: "GET", path: "/api/v1/qr-codes/" + o.code(rng.Int()), key: k}
	case p < 46:
		return call{method: "GET", path: "/api/v1/qr-codes/" + o.code(rng.Int()), query: "format=svg", key: k}
	case p < 56:
		return call{method: "GET", path: "/api/v1/qr-codes/" + o.code(rng.Int()), query: fmt.Sprintf("format=png&size=%d", 64+rng.IntN(448)), key: k}
	case p < 62:
		return call{method: "GET", path: "/api/v1/qr-codes", query: fmt.Sprintf("limit=%d", 1+rng.IntN(100)), key: k}
	case p < 66:
		return call{method: "PATCH", path: "/api/v1/qr-codes/" + o.code(rng.Int()), contentType: "application/json",
			body: []byte(fmt.Sprintf(`{"name":"Renamed %d"}`, rng.IntN(1000))), key: k}
	case p < 68:
		id := o.code(rng.Int())
		return call{method: "DELETE", path: "/api/v1/qr-codes/" + id, key: k}
	case p < 78:
		return hostileBody(rng, k)
	case p < 90:
		return hostileHeaders(rng, k)
	default:
		b := s.bad[rng.IntN(len(s.bad))]
		return call{method: "GET", path: "/api/v1/usage", auth: "Bearer " + b.secret, expectRefusal: b.kind + " key"}
	}
}

var contents = []struct{ typ, content string }{
	{"url", `{"url":"https://example.com/menu/%d"}`},
	{"text", `{"text":"Soak test %d — café 世界 🎉"}`},
	{"wifi", `{"ssid":"Guest;%d","password":"a:long,pass\"word","security":"WPA"}`},
	{"vcard", `{"firstName":"Ada","lastName":"Lovelace %d","phones":["+44 20 7946 0000"],"emails":["ada@example.com"]}`},
	{"phone", `{"number":"+1 555 %07d"}`},
}

// logo is a small PNG, base64 in JSON as the API takes it.
var logo = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 5), 40, uint8(y * 5), 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}()

func createCall(rng *rand.Rand, k *apiKey) call {
	c := contents[rng.IntN(len(contents))]
	body := map[string]any{
		"name":    fmt.Sprintf("Soak %s %d", c.typ, rng.IntN(1e6)),
		"type":    c.typ,
		"content": json.RawMessage(fmt.Sprintf(c.content, rng.IntN(1e6))),
	}
	if rng.IntN(5) == 0 {
		body["design"] = map[string]any{"errorCorrection": "H", "logo": logo, "foreground": "#1A237E"}
	}
	b, _ := json.Marshal(body)
	return call{method: "POST", path: "/api/v1/qr-codes", contentType: "application/json", body: b, key: k}
}

// hostileBody is a request with a valid key and a body the API must
// refuse without storing anything (or, for odd but valid text, store).
func hostileBody(rng *rand.Rand, k *apiKey) call {
	c := call{method: "POST", path: "/api/v1/qr-codes", contentType: "application/json", key: k}
	switch rng.IntN(8) {
	case 0: // over 512 KiB
		c.body = []byte(`{"name":"` + strings.Repeat("x", 600<<10) + `"}`)
	case 1: // deep nesting
		c.body = []byte(`{"name":"n","type":"text","content":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`)
	case 2: // wrong types
		c.body = []byte(`{"name":5,"type":true,"content":"text","design":[]}`)
	case 3: // invalid UTF-8, NUL and an unknown field
		c.body = []byte("{\"name\":\"\xff\xfe\x00\",\"type\":\"text\",\"content\":{\"text\":\"\xc3\"},\"extra\":1}")
	case 4: // another content type
		c.contentType, c.body = "text/plain", []byte("name=x")
	case 5: // truncated JSON
		c.body = []byte(`{"name":"Menu","type":"url","content":{"url":"https://exa`)
	case 6: // PATCH with a null body and a huge unknown field name
		c.method, c.path = "PATCH", "/api/v1/qr-codes/qr_doesnotexist"
		c.body = []byte(`{"` + strings.Repeat("k", 100<<10) + `":1}`)
	default: // content that cannot fit in a QR code
		c.body = []byte(`{"name":"Big","type":"text","content":{"text":"` + strings.Repeat("é", 3000) + `"}}`)
	}
	return c
}

// hostileHeaders is a hand-written request: net/http's client refuses to
// send most of these.
func hostileHeaders(rng *rand.Rand, k *apiKey) call {
	const line = "GET /api/v1/usage HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n"
	bearer := "Authorization: Bearer " + k.secret + "\r\n"
	c := call{method: "GET", path: "/api/v1/usage"}
	var h string
	switch rng.IntN(12) {
	case 0:
		h, c.key = bearer+"User-Agent: \xff\xfe\xfd soak/1.0\r\n", k
	case 1:
		h, c.key = bearer+"User-Agent: a\x00b\r\n", k // net/http answers 400 itself
	case 2:
		h, c.key = bearer+"User-Agent: "+strings.Repeat("u", 10<<10)+"\r\n", k
	case 3:
		h, c.key = bearer+"X-Junk: "+strings.Repeat("j", 10<<10)+"\r\n", k
	case 4:
		h, c.key = "authorization: bearer "+k.secret+"\r\n", k // the scheme in any case
	case 5:
		h, c.key = bearer+"User-Agent: \x1b[31mred\x1b[0m\tinjected=\"1\" level=ERROR\r\n", k
	case 6:
		h, c.expectRefusal = "Authorization: Bearer  "+k.secret+"\r\n", "two spaces"
	case 7:
		c.expectRefusal = "key in the query"
		c.raw = []byte("GET /api/v1/usage?api_key=" + k.secret + " HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
		return c
	case 8:
		h, c.expectRefusal = "X-API-Key: "+k.secret+"\r\n", "key in X-API-Key"
	case 9:
		h, c.expectRefusal = bearer+bearer, "two Authorization headers"
	case 10:
		h, c.expectRefusal = "Authorization: Bearer \xff"+k.secret[1:]+"\r\n", "invalid UTF-8 in the key"
	default:
		h, c.expectRefusal = "Authorization: Bearer "+strings.Repeat("q", 10<<10)+"\r\n", "a 10 KB key"
	}
	c.raw = []byte(line + h + "\r\n")
	return c
}

// send sends one request to n, counts it, and checks what must hold of
// every answer.
func (s *soak) send(ctx context.Context, client *http.Client, n *node, c call) {
	s.requests.Add(1)
	refuse := c.expectRefusal
	if c.key != nil && c.key.mustRefuse.Load() {
		refuse = "paused or revoked key"
	}
	// A request that overlaps a pause, resume or revocation of its key may
	// be answered either way.
	var changes int64
	if c.key != nil {
		changes = c.key.changes.Load()
	}
	var resp *http.Response
	var body []byte
	var err error
	if c.raw != nil {
		resp, body, err = sendRaw(ctx, n.addr, c.raw)
	} else {
		resp, body, err = s.sendHTTP(ctx, client, n, c)
	}
	if err != nil {
		s.transport.Add(1)
		if c.key != nil {
			c.key.org.maybeCalls.Add(1)
			if strings.Contains(c.query, "format=") {
				c.key.org.maybeCredits.Add(10)
			}
		}
		return
	}
	s.statusMu.Lock()
	s.statuses[resp.StatusCode]++
	s.statusMu.Unlock()
	charged, credits := chargeOf(resp)
	ambiguous := c.key != nil && (changes%2 == 1 || c.key.changes.Load() != changes)
	if resp.StatusCode == 500 {
		s.violations.add("500 answer", fmt.Sprintf("%s %s → %s", c.method, c.path, firstLine(body)))
	}
	if bytes.Contains(body, []byte("qr_live_")) && fullKey.Match(body) {
		s.violations.add("full key in a response body", c.method+" "+c.path)
	}
	if charged && refuse != "" && !ambiguous {
		s.violations.add("accepted what must be refused", fmt.Sprintf("%s: %s %s → %d", refuse, c.method, c.path, resp.StatusCode))
	}
	if c.key == nil {
		return
	}
	o := c.key.org
	if o.plan == "starter" && charged {
		s.violations.add("accepted a Starter organisation's key", fmt.Sprintf("%s %s → %d", c.method, c.path, resp.StatusCode))
	}
	switch {
	case charged:
		o.calls.Add(1)
		o.credits.Add(credits)
		s.noteVictim(n, o, credits)
	case resp.StatusCode == 429:
		o.refused.Add(1)
		o.limited.Add(1)
	case resp.StatusCode == 401 || resp.StatusCode == 403:
		o.refused.Add(1)
	}
	if charged && c.method == "POST" && resp.StatusCode == 201 {
		var created struct{ ID string }
		if json.Unmarshal(body, &created) == nil && created.ID != "" {
			o.addCode(created.ID)
		}
	}
	if charged && c.method == "DELETE" && resp.StatusCode == 204 {
		o.removeCode(strings.TrimPrefix(c.path, "/api/v1/qr-codes/"))
	}
}

// chargeOf decides, from the status alone, whether the answer cost an API
// call (every answer past the key and plan checks: not 401, 403 or 429),
// and the image credits of an image sent. A 503 is charged only if it
// carries the usage headers (the call had been charged when the database
// failed); an answer without X-Request-Id comes from net/http itself
// (a malformed request), before any handler.
func chargeOf(resp *http.Response) (bool, int64) {
	switch resp.StatusCode {
	case 401, 403, 429:
		return false, 0
	case 503:
		if resp.Header.Get("X-Ratelimit-Limit") == "" {
			return false, 0
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		return false, 0
	}
	if resp.StatusCode != 200 {
		return true, 0
	}
	switch resp.Header.Get("Content-Type") {
	case "image/png":
		return true, 10
	case "image/svg+xml":
		return true, 1
	}
	return true, 0
}

// noteVictim remembers what the node to be killed answered and charged, to
// bound what its SIGKILL may lose.
func (s *soak) noteVictim(n *node, o *org, credits int64) {
	if !s.cfg.kill || n.index != len(s.nodes)-1 {
		return
	}
	s.victimMu.Lock()
	defer s.victimMu.Unlock()
	if s.victim != nil {
		return // answered after the kill began: not lost by a flush
	}
	s.victimTx = append(s.victimTx, answer{at: time.Now(), org: o, credits: credits})
	// Only the last seconds matter; keep the list short.
	if len(s.victimTx) > 200_000 {
		s.victimTx = append(s.victimTx[:0], s.victimTx[100_000:]...)
	}
}

func (s *soak) sendHTTP(ctx context.Context, client *http.Client, n *node, c call) (*http.Response, []byte, error) {
	u := n.url(c.path)
	if c.query != "" {
		u += "?" + c.query
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, bytes.NewReader(c.body))
	if err != nil {
		return nil, nil, err
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	switch {
	case c.key != nil:
		req.Header.Set("Authorization", "Bearer "+c.key.secret)
	case c.auth != "":
		req.Header.Set("Authorization", c.auth)
	}
	req.Header.Set("User-Agent", "snapglyph-soak/1.0")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

// sendRaw writes a hand-made request on a new connection and reads the answer.
func sendRaw(ctx context.Context, addr string, raw []byte) (*http.Response, []byte, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := conn.Write(raw); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
