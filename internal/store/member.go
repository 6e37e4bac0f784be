package store

import (
	"context"
	"fmt"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// CreateAccount creates a user with a password, a new organisation and
// the user's Owner membership of it, in one transaction (sign-up).
// user.ID and Email, and org.ID, Name, Plan and TrialEndsAt must be set.
// Returns ECONFLICT if a user already has the email.
func (d *DB) CreateAccount(ctx context.Context, user *snapglyph.User, passwordHash string, org *snapglyph.Org, ip string) error {
	err := d.tx(ctx, func(tx *Tx) error {
		user.CreatedAt, org.CreatedAt = tx.now, tx.now
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			user.ID, user.Email, user.Name, passwordHash, ms(user.CreatedAt)); err != nil {
			if isUniqueViolation(err) {
				return snapglyph.Codef(snapglyph.ECONFLICT, "account_exists", "an account with the email %s already exists; sign in instead", user.Email)
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO orgs (id, name, plan, trial_ends_at, created_at) VALUES (?, ?, ?, ?, ?)`,
			org.ID, org.Name, string(org.Plan), ms(org.TrialEndsAt), ms(org.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`,
			org.ID, user.ID, string(snapglyph.RoleOwner), ms(tx.now)); err != nil {
			return err
		}
		actor := snapglyph.Actor{UserID: user.ID, Label: user.Email, IP: ip}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: org.ID, Action: "org.created", TargetID: org.ID, TargetName: org.Name}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: create account: %w", err)
	}
	return nil
}

// Members returns an organisation's members: the Owner first, then Admins,
// then Members, each group in the order they joined.
func (d *DB) Members(ctx context.Context, orgID string) ([]*snapglyph.Member, error) {
	rows, err := d.query(ctx, `SELECT u.id, u.email, u.name, u.created_at, m.role, m.joined_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ?
		ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, m.joined_at, u.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.Member
	for rows.Next() {
		var m snapglyph.Member
		var role string
		var created, joined int64
		if err := rows.Scan(&m.ID, &m.Email, &m.Name, &created, &role, &joined); err != nil {
			return nil, err
		}
		m.CreatedAt, m.JoinedAt, m.Role = fromMS(created), fromMS(joined), snapglyph.Role(role)
		out = append(out, &m)
	}
	return out, formatError(rows.Err())
}

// Memberships returns the organisations a user belongs to, in the order
// the user joined them.
func (d *DB) Memberships(ctx context.Context, userID string) ([]*snapglyph.Membership, error) {
	rows, err := d.query(ctx, `SELECT o.id, o.name, m.role, m.joined_at FROM memberships m JOIN orgs o ON o.id = m.org_id
		WHERE m.user_id = ? ORDER BY m.joined_at, o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: memberships: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.Membership
	for rows.Next() {
		var m snapglyph.Membership
		var role string
		var joined int64
		if err := rows.Scan(&m.OrgID, &m.OrgName, &role, &joined); err != nil {
			return nil, err
		}
		m.Role, m.JoinedAt = snapglyph.Role(role), fromMS(joined)
		out = append(out, &m)
	}
	return out, formatError(rows.Err())
}

// member reads one membership with the user's email, in tx.
func (tx *Tx) member(ctx context.Context, orgID, userID string) (email string, role snapglyph.Role, err error) {
	var r string
	err = tx.QueryRow(ctx, `SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.user_id = ?`,
		orgID, userID).Scan(&email, &r)
	if err != nil {
		return "", "", notFound(err, "no such member of the organisation")
	}
	return email, snapglyph.Role(r), nil
}

// lockOrg takes the organisation row's write lock for the transaction, so
// concurrent invitations and joins count seats one at a time. (SQLite
// transactions are serialised already; the no-op update is portable.)
func (tx *Tx) lockOrg(ctx context.Context, orgID string) error {
	res, err := tx.Exec(ctx, `UPDATE orgs SET id = id WHERE id = ?`, orgID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	}
	return nil
}

// SetMemberRole changes a member's role to Admin or Member and writes the
// audit event, and returns the member's email. The Owner's row is never
// changed here (see TransferOwnership). A member made a Member loses the
// pending invitations they created: they are cancelled in the same
// transaction (each audited), since a Member may not invite. Returns
// ENOTFOUND, ECONFLICT for the Owner or a member who has the role
// already.
func (d *DB) SetMemberRole(ctx context.Context, orgID, userID string, role snapglyph.Role, actor snapglyph.Actor) (email string, err error) {
	if role != snapglyph.RoleAdmin && role != snapglyph.RoleMember {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "a role can be changed to Admin or Member only")
	}
	err = d.tx(ctx, func(tx *Tx) error {
		var old snapglyph.Role
		email, old, err = tx.member(ctx, orgID, userID)
		if err != nil {
			return err
		}
		switch {
		case old == snapglyph.RoleOwner:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the Owner's role cannot be changed")
		case old == role:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "%s is already %s", email, snapglyph.RoleName(role))
		}
		res, err := tx.Exec(ctx, `UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ? AND role = ?`, string(role), orgID, userID, string(old))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Made the Owner, or changed, since it was read.
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the role of %s changed meanwhile; reload the page", email)
		}
		if role == snapglyph.RoleMember {
			if err := tx.cancelInvitationsBy(ctx, orgID, userID, email+" is now a Member", actor); err != nil {
				return err
			}
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: "member.role_changed", TargetID: userID,
			TargetName: fmt.Sprintf("%s: %s → %s", email, snapglyph.RoleName(old), snapglyph.RoleName(role))}, actor)
	})
	if err != nil {
		return "", fmt.Errorf("store: set member role: %w", err)
	}
	return email, nil
}

// RemoveMember takes a user out of an organisation, ends the user's
// sessions in it, cancels the pending invitations the user created (each
// audited), and writes the audit event, in one transaction. The user's
// account stays. Returns ENOTFOUND, and ECONFLICT for the Owner.
func (d *DB) RemoveMember(ctx context.Context, orgID, userID string, actor snapglyph.Actor) (email string, err error) {
	err = d.tx(ctx, func(tx *Tx) error {
		var role snapglyph.Role
		email, role, err = tx.member(ctx, orgID, userID)
		if err != nil {
			return err
		}
		if role == snapglyph.RoleOwner {
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the Owner cannot be removed from the organisation")
		}
		res, err := tx.Exec(ctx, `DELETE FROM memberships WHERE org_id = ? AND user_id = ? AND role <> 'owner'`, orgID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return snapglyph.Errorf(snapglyph.ECONFLICT, "%s was made the Owner meanwhile and cannot be removed", email)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
			return err
		}
		if err := tx.cancelInvitationsBy(ctx, orgID, userID, email+" was removed", actor); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: "member.removed", TargetID: userID, TargetName: email}, actor)
	})
	if err != nil {
		return "", fmt.Errorf("store: remove member: %w", err)
	}
	return email, nil
}

// cancelInvitationsBy cancels the organisation's pending invitations
// that the user created, in tx, each with an invitation.cancelled audit
// event whose detail is why.
func (tx *Tx) cancelInvitationsBy(ctx context.Context, orgID, userID, why string, actor snapglyph.Actor) error {
	by := snapglyph.Actor{UserID: userID}.String()
	rows, err := tx.Query(ctx, `SELECT id, email FROM invitations WHERE org_id = ? AND created_by = ? AND accepted_at = 0 AND cancelled_at = 0 AND expires_at > ? ORDER BY id`,
		orgID, by, ms(tx.now))
	if err != nil {
		return err
	}
	type pending struct{ id, email string }
	var cancel []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.email); err != nil {
			rows.Close()
			return err
		}
		cancel = append(cancel, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range cancel {
		if _, err := tx.Exec(ctx, `UPDATE invitations SET cancelled_at = ? WHERE id = ? AND accepted_at = 0 AND cancelled_at = 0`, ms(tx.now), p.id); err != nil {
			return err
		}
		if err := tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: "invitation.cancelled", TargetID: p.id, TargetName: p.email,
			Detail: "created by " + why}, actor); err != nil {
			return err
		}
	}
	return nil
}

// TransferOwnership makes a member the organisation's Owner and the
// Owner an Admin, and writes the audit event, in one transaction that
// holds the organisation row's lock, so there is one Owner at all times,
// also when transfers race (and migration 026's index says so to the
// database). A person (actor.UserID set) must be the Owner when the
// transaction runs; with adminOnly the new Owner must be an Admin (the
// dashboard's rule; the operator may choose any member). It returns the
// emails of the old and the new Owner. Returns ENOTFOUND (no such
// organisation or member), EFORBIDDEN (the actor is not the Owner), and
// ECONFLICT (already the Owner, or not an Admin).
func (d *DB) TransferOwnership(ctx context.Context, orgID, userID string, adminOnly bool, actor snapglyph.Actor) (from, to string, err error) {
	err = d.tx(ctx, func(tx *Tx) error {
		if err := tx.lockOrg(ctx, orgID); err != nil {
			return err
		}
		var ownerID string
		err := tx.QueryRow(ctx, `SELECT m.user_id, u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.role = 'owner'`, orgID).
			Scan(&ownerID, &from)
		if err != nil {
			return notFound(err, "the organisation has no Owner")
		}
		if actor.UserID != "" && actor.UserID != ownerID {
			return snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only the Owner can transfer ownership")
		}
		var role snapglyph.Role
		to, role, err = tx.member(ctx, orgID, userID)
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			return snapglyph.Errorf(snapglyph.ENOTFOUND, "that person is not a member of the organisation")
		} else if err != nil {
			return err
		}
		switch {
		case role == snapglyph.RoleOwner:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "%s is already the Owner", to)
		case adminOnly && role != snapglyph.RoleAdmin:
			return snapglyph.Codef(snapglyph.ECONFLICT, "not_admin", "ownership can only be transferred to an Admin; make %s an Admin first", to)
		}
		// The old Owner first, so that no moment has two Owners.
		if _, err := tx.Exec(ctx, `UPDATE memberships SET role = 'admin' WHERE org_id = ? AND user_id = ? AND role = 'owner'`, orgID, ownerID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE memberships SET role = 'owner' WHERE org_id = ? AND user_id = ? AND role = ?`, orgID, userID, string(role)); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: "org.owner_transferred", TargetID: userID,
			TargetName: fmt.Sprintf("%s → %s", from, to), Detail: from + " is now an Admin"}, actor)
	})
	if err != nil {
		return "", "", fmt.Errorf("store: transfer ownership: %w", err)
	}
	return from, to, nil
}

const invitationColumns = `i.id, i.org_id, o.name, i.email, i.role, i.created_at, i.created_by, i.created_by_label, i.expires_at, i.accepted_at, i.cancelled_at`

func scanInvitation(row interface{ Scan(...any) error }) (*snapglyph.Invitation, error) {
	var inv snapglyph.Invitation
	var role string
	var created, expires, accepted, cancelled int64
	if err := row.Scan(&inv.ID, &inv.OrgID, &inv.OrgName, &inv.Email, &role, &created, &inv.CreatedBy, &inv.CreatedByLabel,
		&expires, &accepted, &cancelled); err != nil {
		return nil, err
	}
	inv.Role = snapglyph.Role(role)
	inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt, inv.CancelledAt = fromMS(created), fromMS(expires), fromMS(accepted), fromMS(cancelled)
	return &inv, nil
}

// seatsTaken counts members and pending invitations, in tx.
func (tx *Tx) seatsTaken(ctx context.Context, orgID string, withInvitations bool) (int, error) {
	var members, pending int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = ?`, orgID).Scan(&members); err != nil {
		return 0, err
	}
	if withInvitations {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM invitations WHERE org_id = ? AND accepted_at = 0 AND cancelled_at = 0 AND expires_at > ?`,
			orgID, ms(tx.now)).Scan(&pending); err != nil {
			return 0, err
		}
	}
	return members + pending, nil
}

// SeatsTaken returns how many seats an organisation uses: its members and
// its pending invitations.
func (d *DB) SeatsTaken(ctx context.Context, orgID string) (int, error) {
	var n int
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		n, err = tx.seatsTaken(ctx, orgID, true)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: seats: %w", err)
	}
	return n, nil
}

// seatError is the error for a full organisation.
func seatError(seats int) error {
	return snapglyph.Codef(snapglyph.ECONFLICT, "seat_limit_reached",
		"all %d seats of the plan are taken (pending invitations hold a seat); remove a member, cancel an invitation or upgrade the plan", seats)
}

// CreateInvitation stores a pending invitation and writes the audit event.
// inv.ID, OrgID, Email, Role and ExpiresAt must be set. seats is the
// plan's seat limit (negative: unlimited); members and pending
// invitations count against it. Returns ENOTFOUND, and ECONFLICT if the
// email is already a member or invited, or the seats are taken.
func (d *DB) CreateInvitation(ctx context.Context, inv *snapglyph.Invitation, tokenHash string, seats int, actor snapglyph.Actor) error {
	err := d.tx(ctx, func(tx *Tx) error {
		if err := tx.lockOrg(ctx, inv.OrgID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND u.email = ?`,
			inv.OrgID, inv.Email).Scan(&n); err != nil {
			return err
		} else if n > 0 {
			return snapglyph.Codef(snapglyph.ECONFLICT, "already_member", "%s is already a member of the organisation", inv.Email)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM invitations WHERE org_id = ? AND email = ? AND accepted_at = 0 AND cancelled_at = 0 AND expires_at > ?`,
			inv.OrgID, inv.Email, ms(tx.now)).Scan(&n); err != nil {
			return err
		} else if n > 0 {
			return snapglyph.Codef(snapglyph.ECONFLICT, "already_invited", "%s already has a pending invitation; cancel it to create a new link", inv.Email)
		}
		if seats >= 0 {
			taken, err := tx.seatsTaken(ctx, inv.OrgID, true)
			if err != nil {
				return err
			}
			if taken >= seats {
				return seatError(seats)
			}
		}
		inv.CreatedAt, inv.CreatedBy, inv.CreatedByLabel = tx.now, actor.String(), actor.Label
		if _, err := tx.Exec(ctx, `INSERT INTO invitations (id, org_id, email, role, token_hash, created_at, created_by, created_by_label, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inv.ID, inv.OrgID, inv.Email, string(inv.Role), tokenHash, ms(inv.CreatedAt), inv.CreatedBy, inv.CreatedByLabel, ms(inv.ExpiresAt)); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: inv.OrgID, Action: "member.invited", TargetID: inv.ID,
			TargetName: fmt.Sprintf("%s as %s", inv.Email, snapglyph.RoleName(inv.Role))}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: create invitation: %w", err)
	}
	return nil
}

// Invitations returns an organisation's pending invitations, newest first.
func (d *DB) Invitations(ctx context.Context, orgID string) ([]*snapglyph.Invitation, error) {
	rows, err := d.query(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN orgs o ON o.id = i.org_id
		WHERE i.org_id = ? AND i.accepted_at = 0 AND i.cancelled_at = 0 AND i.expires_at > ?
		ORDER BY i.created_at DESC, i.id`, orgID, ms(d.now()))
	if err != nil {
		return nil, fmt.Errorf("store: invitations: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, formatError(rows.Err())
}

// InvitationByToken returns the invitation whose link token (the one
// shown when it was made, or the one mailed) has the digest, in whatever
// state. Returns ENOTFOUND.
func (d *DB) InvitationByToken(ctx context.Context, tokenHash string) (*snapglyph.Invitation, error) {
	inv, err := scanInvitation(d.queryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.token_hash = ? OR i.mail_token_hash = ?`, tokenHash, tokenHash))
	if err != nil {
		return nil, notFound(err, "this invitation link is not valid; ask for a new one")
	}
	return inv, nil
}

// CancelInvitation cancels a pending invitation, so its link stops working
// at once, and writes the audit event. Returns ENOTFOUND (also for another
// organisation's invitation), and ECONFLICT if it is no longer pending.
func (d *DB) CancelInvitation(ctx context.Context, orgID, id string, actor snapglyph.Actor) (*snapglyph.Invitation, error) {
	var inv *snapglyph.Invitation
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		inv, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.id = ? AND i.org_id = ?`, id, orgID))
		if err != nil {
			return notFound(err, "no invitation has the id %s", snapglyph.QuoteID(id))
		}
		if !inv.Pending(tx.now) {
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the invitation for %s is no longer pending", inv.Email)
		}
		inv.CancelledAt = tx.now
		if _, err := tx.Exec(ctx, `UPDATE invitations SET cancelled_at = ? WHERE id = ?`, ms(tx.now), id); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: "invitation.cancelled", TargetID: id, TargetName: inv.Email}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: cancel invitation: %w", err)
	}
	return inv, nil
}

// AcceptInvitation makes the joiner a member of the invitation's
// organisation with its role, marks the invitation accepted, and writes
// the audit event, in one transaction. seats is the plan's seat limit
// (negative: unlimited). It returns the user and the invitation. Returns
// ENOTFOUND, and ECONFLICT if the invitation is no longer pending, the
// email belongs to another account, the user is already a member, or the
// seats are taken.
func (d *DB) AcceptInvitation(ctx context.Context, tokenHash string, j snapglyph.Joiner, seats int) (*snapglyph.User, *snapglyph.Invitation, error) {
	var user snapglyph.User
	var inv *snapglyph.Invitation
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		inv, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.token_hash = ? OR i.mail_token_hash = ?`, tokenHash, tokenHash))
		if err != nil {
			return notFound(err, "this invitation link is not valid; ask for a new one")
		}
		if err := tx.lockOrg(ctx, inv.OrgID); err != nil {
			return err
		}
		if err := inv.Err(tx.now); err != nil {
			return err
		}
		if j.UserID == "" {
			user = snapglyph.User{ID: snapglyph.NewID("usr"), Email: inv.Email, Name: j.Name, CreatedAt: tx.now}
			if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
				user.ID, user.Email, user.Name, j.PasswordHash, ms(user.CreatedAt)); err != nil {
				if isUniqueViolation(err) {
					return snapglyph.Codef(snapglyph.ECONFLICT, "account_exists", "an account with the email %s already exists; sign in to accept the invitation", inv.Email)
				}
				return err
			}
		} else {
			var created int64
			if err := tx.QueryRow(ctx, `SELECT id, email, name, created_at FROM users WHERE id = ?`, j.UserID).
				Scan(&user.ID, &user.Email, &user.Name, &created); err != nil {
				return notFound(err, "no such user")
			}
			user.CreatedAt = fromMS(created)
			if user.Email != inv.Email {
				return snapglyph.Errorf(snapglyph.ECONFLICT, "this invitation is for %s; sign in with that account to accept it", inv.Email)
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = ? AND user_id = ?`, inv.OrgID, user.ID).Scan(&n); err != nil {
				return err
			} else if n > 0 {
				return snapglyph.Codef(snapglyph.ECONFLICT, "already_member", "%s is already a member of %s", user.Email, inv.OrgName)
			}
		}
		if seats >= 0 {
			// The invitation held a seat until now; count members only.
			taken, err := tx.seatsTaken(ctx, inv.OrgID, false)
			if err != nil {
				return err
			}
			if taken >= seats {
				return seatError(seats)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`,
			inv.OrgID, user.ID, string(inv.Role), ms(tx.now)); err != nil {
			return err
		}
		inv.AcceptedAt = tx.now
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = ? WHERE id = ?`, ms(tx.now), inv.ID); err != nil {
			return err
		}
		actor := snapglyph.Actor{UserID: user.ID, Label: user.Email, IP: j.IP}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: inv.OrgID, Action: "member.joined", TargetID: user.ID,
			TargetName: fmt.Sprintf("%s as %s", user.Email, snapglyph.RoleName(inv.Role))}, actor)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: accept invitation: %w", err)
	}
	return &user, inv, nil
}
