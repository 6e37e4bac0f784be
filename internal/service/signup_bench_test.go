package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// BenchmarkSignUp compares a sign-up for a new email with one for an
// email that has an account: both pay the argon2id hash, so the answer's
// time does not say which it was. (Each iteration comes from another
// network, so the throttle stays out of the way.)
//
//	go test -run x -bench SignUp -benchtime 20x ./internal/service/
func BenchmarkSignUp(b *testing.B) {
	db := testdb.Open(b, "sqlite")
	svc := service.New(db.DB)
	ctx := context.Background()
	if _, err := svc.SignUp(ctx, service.SignUp{Name: "Ada", OrgName: "Engines", Email: "ada@engines.test", Password: testPassword}, web); err != nil {
		b.Fatal(err)
	}
	n := 0
	client := func() service.Client {
		n++
		return service.Client{IP: fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)}
	}
	b.Run("new email", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			email := fmt.Sprintf("new%d-%d@engines.test", b.N, i)
			if _, err := svc.SignUp(ctx, service.SignUp{Name: "New", OrgName: "New", Email: email, Password: testPassword}, client()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("existing email", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.SignUp(ctx, service.SignUp{Name: "Eve", OrgName: "Evil", Email: "ada@engines.test", Password: testPassword}, client()); err == nil {
				b.Fatal("an existing email signed up")
			}
		}
	})
	// What the answer for an existing email cost before: one lookup.
	b.Run("baseline: email lookup", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := db.UserByEmail(ctx, "ada@engines.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
