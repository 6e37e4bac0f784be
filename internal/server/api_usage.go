package server

import (
	"net/http"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
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
	Key          struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		Prefix       string `json:"prefix"`
		APICalls     int64  `json:"apiCalls"`
		ImageCredits int64  `json:"imageCredits"`
	} `json:"key"`
}

// handleUsage answers this period's API calls and image credits, used and
// limit, for the key's organisation, and what this key spent.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	u, err := s.usageOf(r, p.org, p.period)
	if err != nil {
		s.writeError(w, r, unavailable(err))
		return
	}
	kc, err := s.db.KeyUsage(r.Context(), p.key.ID, p.period)
	if err != nil {
		s.writeError(w, r, unavailable(err))
		return
	}
	kp := s.recorder.Pending(p.key.ID, p.period)
	out := usageJSON{
		Period:       u.Period,
		APICalls:     meterJSON{Used: u.APICalls, Limit: u.APICallsLimit, Remaining: max(u.APICallsLimit-u.APICalls, 0)},
		ImageCredits: meterJSON{Used: u.ImageCredits, Limit: u.ImageCreditsLimit, Remaining: max(u.ImageCreditsLimit-u.ImageCredits, 0)},
		ResetsAt:     u.ResetsAt,
	}
	out.Key.ID, out.Key.Name, out.Key.Prefix = p.key.ID, p.key.Name, p.key.Prefix+"..."
	out.Key.APICalls, out.Key.ImageCredits = kc.APICalls+kp.APICalls, kc.ImageCredits+kp.ImageCredits
	encode(w, http.StatusOK, out)
}

// usageOf returns an organisation's usage in a period: what the database
// holds plus what this node has not flushed yet.
func (s *Server) usageOf(r *http.Request, org *snapglyph.Org, period string) (*snapglyph.Usage, error) {
	row, err := s.db.Usage(r.Context(), org.ID, period)
	if err != nil {
		return nil, err
	}
	pending := s.recorder.Pending(org.ID, period)
	_, resets := snapglyph.Period(s.now())
	return &snapglyph.Usage{
		Period:            period,
		APICalls:          row.Used.APICalls + pending.APICalls,
		APICallsLimit:     org.APICallLimit(),
		ImageCredits:      row.Used.ImageCredits + pending.ImageCredits,
		ImageCreditsLimit: org.ImageCreditLimit(),
		ResetsAt:          resets,
	}, nil
}

func errNoRoute(r *http.Request) error {
	return snapglyph.Errorf(snapglyph.ENOTFOUND, "no API endpoint %s %s", r.Method, r.URL.Path)
}

var _ = store.APICalls
