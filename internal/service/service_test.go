package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func TestRoles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "Owner@Acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		if owner.Email != "owner@acme.test" {
			t.Errorf("owner email %q, want it lower-cased", owner.Email)
		}
		admin, err := db.AddMember(ctx, org.ID, "admin@acme.test", snapglyph.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		member, err := db.AddMember(ctx, org.ID, "member@acme.test", snapglyph.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		_, stranger, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Other", OwnerEmail: "x@other.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		as := func(u *snapglyph.User) snapglyph.Actor {
			return snapglyph.Actor{UserID: u.ID, Label: u.Email, IP: "198.51.100.7"}
		}

		t.Run("OK owner and admin", func(t *testing.T) {
			for _, u := range []*snapglyph.User{owner, admin} {
				k, err := svc.CreateKey(ctx, as(u), org.ID, "Production-WebApp")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.PauseKey(ctx, as(u), k.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := svc.ResumeKey(ctx, as(u), k.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := svc.RevokeKey(ctx, as(u), k.ID); err != nil {
					t.Fatal(err)
				}
			}
		})
		t.Run("ErrMember", func(t *testing.T) {
			k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Dev-Testing")
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.CreateKey(ctx, as(member), org.ID, "Mobile-iOS-App")
			if snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN || !strings.Contains(err.Error(), "Owners and Admins") {
				t.Errorf("member creates a key: %v, want EFORBIDDEN", err)
			}
			if _, err := svc.Keys(ctx, as(member), org.ID, false); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
				t.Errorf("member lists keys: %v, want EFORBIDDEN", err)
			}
			for name, do := range map[string]func(context.Context, snapglyph.Actor, string) (*snapglyph.APIKey, error){
				"pause": svc.PauseKey, "resume": svc.ResumeKey, "revoke": svc.RevokeKey,
			} {
				if _, err := do(ctx, as(member), k.ID); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
					t.Errorf("member %ss a key: %v, want EFORBIDDEN", name, err)
				}
			}
			if got, _ := db.Key(ctx, k.ID); got.Status != snapglyph.KeyActive {
				t.Errorf("key status %s after refused actions", got.Status)
			}
		})
		t.Run("ErrOtherOrganisation", func(t *testing.T) {
			k, _ := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Zapier-Integration")
			if _, err := svc.RevokeKey(ctx, as(stranger), k.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
				t.Errorf("stranger revokes a key: %v, want ENOTFOUND (the key is not disclosed)", err)
			}
			if _, err := svc.Keys(ctx, as(stranger), org.ID, false); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
				t.Errorf("stranger lists keys: %v, want ENOTFOUND", err)
			}
		})
		t.Run("ErrStarter", func(t *testing.T) {
			starter, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Small", OwnerEmail: "s@small.test", Plan: "starter"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.CreateKey(ctx, snapglyph.Operator, starter.ID, "Production-WebApp")
			if snapglyph.ErrorCode(err) != "api_not_in_plan" {
				t.Errorf("starter creates a key: %v, want api_not_in_plan", err)
			}
			if keys, _ := db.Keys(ctx, starter.ID, true); len(keys) != 0 {
				t.Errorf("a refused create stored %d keys", len(keys))
			}
		})
		t.Run("audit log", func(t *testing.T) {
			events, err := db.AuditEvents(ctx, org.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range events {
				if e.Actor == "user:"+admin.ID {
					got = append(got, e.Action)
					if e.ActorLabel != "admin@acme.test" || e.IP != "198.51.100.7" || e.At.IsZero() || e.TargetName != "Production-WebApp" {
						t.Errorf("event %+v", e)
					}
				}
			}
			want := "key.revoked key.resumed key.paused key.created" // newest first
			if strings.Join(got, " ") != want {
				t.Errorf("admin's events %q, want %q", got, want)
			}
			if events[0].Actor != "operator" || events[0].ActorLabel != "operator (CLI)" {
				t.Errorf("newest event %+v, want the operator's", events[0])
			}
		})
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		neg, pos := int64(-1), int64(10)
		tests := []struct {
			name string
			do   func() error
			code string
		}{
			{"empty key name", func() error { _, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "  "); return err }, snapglyph.EINVALID},
			{"65-character name", func() error {
				_, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, strings.Repeat("x", 65))
				return err
			}, snapglyph.EINVALID},
			{"unknown org", func() error { _, err := svc.CreateKey(ctx, snapglyph.Operator, "org_nope", "Production"); return err }, snapglyph.ENOTFOUND},
			{"unknown key", func() error { _, err := svc.PauseKey(ctx, snapglyph.Operator, "key_nope"); return err }, snapglyph.ENOTFOUND},
			{"unknown plan", func() error { return svc.SetPlan(ctx, snapglyph.Operator, org.ID, "gold") }, snapglyph.EINVALID},
			{"plan of unknown org", func() error { return svc.SetPlan(ctx, snapglyph.Operator, "org_nope", "max") }, snapglyph.ENOTFOUND},
			{"negative limit", func() error { return svc.SetLimits(ctx, snapglyph.Operator, org.ID, &neg, &pos) }, snapglyph.EINVALID},
			{"no limit given", func() error { return svc.SetLimits(ctx, snapglyph.Operator, org.ID, nil, nil) }, snapglyph.EINVALID},
			{"bad email", func() error {
				_, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "X", OwnerEmail: "not-an-email", Plan: "pro"})
				return err
			}, snapglyph.EINVALID},
			{"empty org name", func() error {
				_, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: " ", OwnerEmail: "a@b.test", Plan: "pro"})
				return err
			}, snapglyph.EINVALID},
			{"short password", func() error {
				_, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "X", OwnerEmail: "a@b.test", Password: "short"})
				return err
			}, snapglyph.EINVALID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, _ := db.LastChange(ctx)
				events, _ := db.AuditEvents(ctx, org.ID, 0, 1000)
				err := tt.do()
				if snapglyph.ErrorKind(err) != tt.code {
					t.Fatalf("error %v, want %s", err, tt.code)
				}
				if snapglyph.ErrorMessage(err) == "Internal error." {
					t.Error("no clear message")
				}
				after, _ := db.LastChange(ctx)
				events2, _ := db.AuditEvents(ctx, org.ID, 0, 1000)
				keys, _ := db.Keys(ctx, org.ID, true)
				got, _ := db.Org(ctx, org.ID)
				if after != before || len(events2) != len(events) || len(keys) != 0 || got.Plan != "pro" || got.APICallsLimit != nil {
					t.Error("a refused action changed something")
				}
			})
		}
		if _, _, err := db.UserByEmail(ctx, "a@b.test"); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Error("a refused CreateOrg left a user behind")
		}
	})
}

func TestPassword(t *testing.T) {
	h, err := service.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Errorf("hash %q is not argon2id", h)
	}
	if !service.CheckPassword(h, "correct horse battery") || service.CheckPassword(h, "correct horse batterY") {
		t.Error("CheckPassword is wrong")
	}
	if h2, _ := service.HashPassword("correct horse battery"); h2 == h {
		t.Error("no salt")
	}
}

// TestStarterQRCodeLimit: a Starter organisation holds at most 5 QR codes
// (the dashboard's limit; the API is closed to Starter by the plan gate).
func TestStarterQRCodeLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Small", OwnerEmail: "s@small.test", Plan: "starter"})
		if err != nil {
			t.Fatal(err)
		}
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		name, typ := "Menu", "url"
		in := service.QRInput{Name: &name, Type: &typ, Content: []byte(`{"url":"https://example.com"}`)}
		for i := 0; i < 5; i++ {
			if _, err := svc.CreateQRCode(ctx, by, org.ID, in); err != nil {
				t.Fatalf("QR code %d: %v", i+1, err)
			}
		}
		_, err = svc.CreateQRCode(ctx, by, org.ID, in)
		if snapglyph.ErrorCode(err) != "qr_code_limit_reached" || !strings.Contains(err.Error(), "5 QR codes") {
			t.Fatalf("sixth QR code: %v, want qr_code_limit_reached", err)
		}
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 5 {
			t.Fatalf("%d QR codes stored", n)
		}
		// A stranger cannot create in the organisation at all.
		_, stranger, _ := svc.CreateOrg(ctx, service.NewOrg{Name: "Other", OwnerEmail: "x@other.test", Plan: "pro"})
		_, err = svc.CreateQRCode(ctx, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: stranger.ID}, org.ID, in)
		if snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("stranger: %v, want ENOTFOUND", err)
		}
	})
}
