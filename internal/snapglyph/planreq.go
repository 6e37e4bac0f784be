package snapglyph

import "time"

// PlanRequest is an Owner's request to change the organisation's plan,
// for the operator to approve (org set-plan) or refuse.
type PlanRequest struct {
	ID        string
	OrgID     string
	OrgName   string // filled in for the operator's list
	From      Plan   // the plan when the request was made
	Plan      Plan   // the plan asked for
	By        string // the actor ("user:ID")
	ByLabel   string // the actor's email
	CreatedAt time.Time
	Status    PlanRequestStatus
	ClosedAt  time.Time
	ClosedBy  string // who closed it (label)
	Note      string // a refusal's reason
}

// PlanRequestStatus is where a plan request stands.
type PlanRequestStatus string

// A request is pending until the operator approves it (sets that plan),
// supersedes it (sets another plan), refuses it, or the Owner cancels it.
const (
	PlanRequestPending    PlanRequestStatus = "pending"
	PlanRequestApproved   PlanRequestStatus = "approved"
	PlanRequestSuperseded PlanRequestStatus = "superseded"
	PlanRequestRefused    PlanRequestStatus = "refused"
	PlanRequestCancelled  PlanRequestStatus = "cancelled"
)

// PlanName is a plan as people read it: "Starter", "Pro", "Pro (trial)",
// "Max".
func PlanName(p Plan) string {
	switch p {
	case PlanTrial:
		return "Pro (trial)"
	case PlanPro:
		return "Pro"
	case PlanMax:
		return "Max"
	case PlanStarter:
		return "Starter"
	}
	return string(p)
}
