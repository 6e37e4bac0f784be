package snapglyph

// Change is one entry of the change log: a management change that nodes
// apply to their caches.
type Change struct {
	Seq   int64
	Kind  string
	RefID string
}

// Kinds of change that invalidate node caches.
const (
	ChangeKey = "key" // an API key's status changed; RefID is the key id
	// ChangeKeyCreated: an API key was created; RefID is the key id.
	// Nodes forget the digests they cached as unknown, since the new
	// key's may be among them.
	ChangeKeyCreated = "key-created"
	ChangeOrg        = "org" // an organisation's plan or limits changed; RefID is the org id
	// ChangeReclaim asks nodes to give back their unspent leases of an
	// organisation; RefID is "orgID/nodeID" of the node asking. It is
	// only notified, not logged: a node that misses it just keeps its
	// lease a little longer.
	ChangeReclaim = "reclaim"
	// ChangeReclaimed answers a reclaim once a node has returned its
	// leases; RefID is "orgID/askingNodeID/answeringNodeID".
	ChangeReclaimed = "reclaimed"
)
