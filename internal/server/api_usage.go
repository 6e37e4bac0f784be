package server

import (
	"net/http"
	"time"
)

type meterJSON struct {
	Used      int64 `json:"used"`
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
}

type usageJSON struct {
	Period       string    `json:"period"`
	APICalls     meterJSON `json:"apiCalls"`
	ImageCredits meterJSON `json:"imageCredits"`
	ResetsAt     time.Time `json:"resetsAt"`
}

func toMeterJSON(s meterState) meterJSON {
	return meterJSON{Used: s.Limit - s.Remaining, Limit: s.Limit, Remaining: s.Remaining}
}

// handleUsage answers this period's API calls and image credits (used,
// limit, remaining) for the key's organisation, this request included.
// The numbers are the meter's, the same as the X-RateLimit headers, and
// cost no database read: used is the limit less what is still available.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	encode(w, http.StatusOK, usageJSON{
		Period:       p.period,
		APICalls:     toMeterJSON(p.calls),
		ImageCredits: toMeterJSON(p.credits),
		ResetsAt:     p.calls.ResetsAt,
	})
}
