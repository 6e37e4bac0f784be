package server

import (
	"net/http"
	"strconv"
	"time"
)

// handleUsage answers this period's API calls and image credits (used,
// limit, remaining) for the key's organisation, this request included.
// The numbers are the same as the X-RateLimit headers: used is what the
// organisation really spent (every node's flushed usage plus this node's
// buffered counts, see meter.Spent), the same on every node to within the
// flush interval, and remaining is max(limit − used, 0).
// The body is appended by hand: this is the API's cheapest call, and the
// one load balancers and dashboards poll.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request, p *principal) {
	b := make([]byte, 0, 256)
	b = append(b, `{"period":"`...)
	b = append(b, p.period...)
	b = append(b, `","apiCalls":`...)
	b = appendMeter(b, p.calls)
	b = append(b, `,"imageCredits":`...)
	b = appendMeter(b, p.credits)
	b = append(b, `,"resetsAt":"`...)
	b = p.calls.ResetsAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, "\"}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b)
}

var jsonContentType = []string{"application/json"}

func appendMeter(b []byte, s meterState) []byte {
	b = append(b, `{"used":`...)
	b = strconv.AppendInt(b, s.Used, 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, s.Limit, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, s.Remaining, 10)
	return append(b, '}')
}
