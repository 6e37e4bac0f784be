package service

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// RevealTTL is how long a new secret can be revealed after it was made: the
// browser follows the redirect at once, so this only bounds how long a
// sealed value sits in the database.
const RevealTTL = 10 * time.Minute

// Reveal is a new key's one-time reveal, as the page after the redirect
// shows it.
type Reveal struct {
	ID  string
	Key *snapglyph.APIKey
	// Old is the key a roll replaced (nil for a new key).
	Old *snapglyph.APIKey
	// Secret is the key's value the first time the reveal is opened
	// within RevealTTL; empty afterwards: it cannot be shown again.
	Secret string
}

// HoldReveal keeps a new key's value for one showing on the page a
// redirect leads to (POST-redirect-GET), and returns the reveal's id for
// that page's address (see holdReveal). oldKeyID names the key a roll
// replaced. Returns EUNAUTHORIZED if token is not the session's.
func (s *Service) HoldReveal(ctx context.Context, st *snapglyph.Session, token string, nk *NewKey, oldKeyID string) (string, error) {
	return s.holdReveal(ctx, st, token, &store.Reveal{Kind: snapglyph.RevealKey, OrgID: nk.OrgID, SubjectID: nk.ID, OldKeyID: oldKeyID}, nk.Secret)
}

// HoldWebhookSecretReveal keeps an endpoint's new signing secret (the
// endpoint just made, or its secret just rotated: rotated says which)
// for one showing, as HoldReveal does for a key.
func (s *Service) HoldWebhookSecretReveal(ctx context.Context, st *snapglyph.Session, token string, w *snapglyph.Webhook, rotated bool) (string, error) {
	kind := snapglyph.RevealWebhookCreated
	if rotated {
		kind = snapglyph.RevealWebhookRotated
	}
	return s.holdReveal(ctx, st, token, &store.Reveal{Kind: kind, OrgID: w.OrgID, SubjectID: w.ID}, w.Secret)
}

// holdReveal stores r with the secret sealed (AES-256-GCM) under a key
// derived from the session's cookie token, which the database does not
// hold, so the row alone cannot be opened; any node the browser reaches
// next can open it with the cookie. Returns the reveal's id.
func (s *Service) holdReveal(ctx context.Context, st *snapglyph.Session, token string, r *store.Reveal, secret string) (string, error) {
	if st == nil || tokenDigest(token) != st.ID {
		return "", snapglyph.Codef(snapglyph.EUNAUTHORIZED, "no_session", "please sign in")
	}
	if r.OrgID != st.OrgID {
		return "", snapglyph.Errorf(snapglyph.ENOTFOUND, "there is no such %s in this organisation", revealSubject(r.Kind))
	}
	if secret == "" {
		return "", errors.New("service: nothing to reveal")
	}
	r.ID, r.SessionID = snapglyph.NewID("rvl"), st.ID
	sealed, err := sealReveal(token, r.ID, r.SubjectID, secret)
	if err != nil {
		return "", err
	}
	r.Sealed, r.ExpiresAt = sealed, s.db.Now().Add(RevealTTL)
	if err := s.db.CreateReveal(ctx, r); err != nil {
		return "", err
	}
	return r.ID, nil
}

func revealSubject(kind string) string {
	if kind == snapglyph.RevealKey {
		return "API key"
	}
	return "webhook endpoint"
}

// takeReveal opens the session's reveal with the id and one of the kinds:
// its row, and the secret the first time (on any node) within RevealTTL,
// "" afterwards. Returns ENOTFOUND for a reveal of another session,
// another kind or one purged (a day after it was made).
func (s *Service) takeReveal(ctx context.Context, st *snapglyph.Session, token, id, subjectID string, kinds ...string) (*store.Reveal, string, error) {
	if st == nil || tokenDigest(token) != st.ID {
		return nil, "", snapglyph.Codef(snapglyph.EUNAUTHORIZED, "no_session", "please sign in")
	}
	r, err := s.db.TakeReveal(ctx, id, st.ID, subjectID, kinds...)
	if err != nil {
		return nil, "", err
	}
	if r.OrgID != st.OrgID {
		return nil, "", snapglyph.Errorf(snapglyph.ENOTFOUND, "there is no such reveal")
	}
	var secret string
	if r.Sealed != "" {
		if secret, err = openReveal(token, r.ID, r.SubjectID, r.Sealed); err != nil {
			return nil, "", err
		}
	}
	return r, secret, nil
}

// TakeReveal opens the session's key reveal with the id: the first call
// (on any node) within RevealTTL gets the key's value, every later one
// the key without it. Returns ENOTFOUND for a reveal of another session
// or one purged (a day after it was made).
func (s *Service) TakeReveal(ctx context.Context, st *snapglyph.Session, token, id string) (*Reveal, error) {
	r, secret, err := s.takeReveal(ctx, st, token, id, "", snapglyph.RevealKey)
	if err != nil {
		return nil, err
	}
	out := &Reveal{ID: r.ID, Secret: secret}
	if out.Key, err = s.db.Key(ctx, r.SubjectID); err != nil {
		return nil, err
	}
	if r.OldKeyID != "" {
		if out.Old, err = s.db.Key(ctx, r.OldKeyID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WebhookSecretReveal is an endpoint's one-time secret reveal, as the
// page after the redirect shows it.
type WebhookSecretReveal struct {
	ID      string
	Webhook *snapglyph.Webhook // without its secret
	Rotated bool               // a rotation, not a new endpoint
	// Secret is the signing secret the first time the reveal is opened
	// within RevealTTL; empty afterwards, or if the secret was rotated
	// again since (Replaced).
	Secret   string
	Replaced bool
}

// TakeWebhookSecretReveal opens the session's secret reveal with the id
// for the endpoint webhookID, as TakeReveal does for a key. Owners and
// Admins. Returns ENOTFOUND (for another endpoint's reveal, or an
// endpoint deleted since, too), EFORBIDDEN.
func (s *Service) TakeWebhookSecretReveal(ctx context.Context, actor snapglyph.Actor, st *snapglyph.Session, token, webhookID, id string) (*WebhookSecretReveal, error) {
	r, secret, err := s.takeReveal(ctx, st, token, id, webhookID, snapglyph.RevealWebhookCreated, snapglyph.RevealWebhookRotated)
	if err != nil {
		return nil, err
	}
	w, err := s.webhook(ctx, actor, st.OrgID, r.SubjectID, false)
	if err != nil {
		return nil, err
	}
	out := &WebhookSecretReveal{ID: r.ID, Webhook: w, Rotated: r.Kind == snapglyph.RevealWebhookRotated}
	if secret != "" {
		// Only the secret that signs now is worth showing.
		current, err := s.db.WebhookWithSecret(ctx, w.ID)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(secret), []byte(current.Secret)) == 1 {
			out.Secret = secret
		} else {
			out.Replaced = true
		}
	}
	return out, nil
}

// revealKey derives the sealing key from the session's token.
func revealKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("snapglyph key reveal v1"))
	return m.Sum(nil)
}

func revealAEAD(token string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(revealKey(token))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealReveal seals a secret, bound to the reveal and its subject.
func sealReveal(token, id, subjectID, secret string) (string, error) {
	aead, err := revealAEAD(token)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := aead.Seal(nonce, nonce, []byte(secret), []byte(id+"\x00"+subjectID))
	return base64.RawStdEncoding.EncodeToString(out), nil
}

// openReveal opens what sealReveal sealed with the same token.
func openReveal(token, id, subjectID, sealed string) (string, error) {
	aead, err := revealAEAD(token)
	if err != nil {
		return "", err
	}
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize() {
		return "", errors.New("service: a reveal is damaged")
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(id+"\x00"+subjectID))
	if err != nil {
		return "", errors.New("service: a reveal does not open with this session")
	}
	return string(plain), nil
}
