package service

import (
	"context"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// NewKey is a key just created: the only time Secret exists.
type NewKey struct {
	*snapglyph.APIKey
	Secret string
	// Hint suggests a better name when the name is generic.
	Hint string
}

// CreateKey creates an API key for the organisation. Returns EINVALID for
// a bad name, ENOTFOUND, EFORBIDDEN (a Member, or a plan without API
// access).
func (s *Service) CreateKey(ctx context.Context, actor snapglyph.Actor, orgID, name string) (*NewKey, error) {
	return s.CreateKeyOnce(ctx, actor, orgID, name, "")
}

// CreateKeyOnce is CreateKey for a form that may be sent twice (a page
// refresh): a non-empty nonce creates at most one key, and the second
// attempt returns ECONFLICT (key_already_created).
func (s *Service) CreateKeyOnce(ctx context.Context, actor snapglyph.Actor, orgID, name, nonce string) (*NewKey, error) {
	name, err := snapglyph.NormalizeKeyName(name)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKeys(ctx, actor, orgID); err != nil {
		return nil, err
	}
	org, err := s.db.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if !org.HasAPI(s.db.Now()) {
		return nil, org.ErrNotInPlan(s.db.Now())
	}
	secret := snapglyph.GenerateKey()
	key := &snapglyph.APIKey{
		ID:     snapglyph.NewID("key"),
		OrgID:  orgID,
		Name:   name,
		Prefix: snapglyph.KeyDisplayPrefix(secret),
	}
	if err := s.db.CreateKey(ctx, key, snapglyph.DigestKey(secret), actor, nonce); err != nil {
		return nil, err
	}
	// Nodes may have cached the new key's digest as unknown: it works
	// everywhere once this returns.
	s.changed(ctx, store.ChangeKeyCreated, key.ID)
	return &NewKey{APIKey: key, Secret: secret, Hint: snapglyph.KeyNameHint(name)}, nil
}

// Keys lists an organisation's keys, newest first; revoked keys only if
// asked. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) Keys(ctx context.Context, actor snapglyph.Actor, orgID string, withRevoked bool) ([]*snapglyph.APIKey, error) {
	if err := s.authorizeKeys(ctx, actor, orgID); err != nil {
		return nil, err
	}
	if _, err := s.db.Org(ctx, orgID); err != nil {
		return nil, err
	}
	return s.db.Keys(ctx, orgID, withRevoked)
}

// PauseKey stops a key until it is resumed.
func (s *Service) PauseKey(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	return s.setKeyStatus(ctx, actor, keyID, snapglyph.KeyPaused)
}

// ResumeKey makes a paused key work again. A revoked key cannot be
// resumed (ECONFLICT).
func (s *Service) ResumeKey(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	return s.setKeyStatus(ctx, actor, keyID, snapglyph.KeyActive)
}

// RevokeKey stops a key for good. Revoking is allowed on every plan, so a
// leaked key can always be shut off.
func (s *Service) RevokeKey(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	return s.setKeyStatus(ctx, actor, keyID, snapglyph.KeyRevoked)
}

func (s *Service) setKeyStatus(ctx context.Context, actor snapglyph.Actor, keyID string, status snapglyph.KeyStatus) (*snapglyph.APIKey, error) {
	k, err := s.db.Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKeys(ctx, actor, k.OrgID); err != nil {
		if snapglyph.ErrorCode(err) == snapglyph.ENOTFOUND {
			return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no API key has the id %q", keyID)
		}
		return nil, err
	}
	k, err = s.db.SetKeyStatus(ctx, keyID, status, actor)
	if err != nil {
		return nil, err
	}
	s.changed(ctx, store.ChangeKey, keyID)
	return k, nil
}
