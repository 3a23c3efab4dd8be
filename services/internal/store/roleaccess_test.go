package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// A group's changed role on an object is written into its access row (the id a client got for
// the grant stays valid, as OpenTera's update_service_access_for_user_group); a removed grant is
// restored rather than duplicated.
func TestSetGroupRoleInPlace(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	p1 := store.RoleObject{ID: 1}
	set := func(role string) int32 {
		t.Helper()
		id, err := store.SetGroupRole(ctx, pool, 5, p1, role)
		if err != nil {
			t.Fatalf("role %q: %v", role, err)
		}
		return id
	}
	live := func() int {
		return scalar[int](t, pool, "SELECT count(*) FROM core.t_services_access WHERE id_user_group = 5 AND deleted_at IS NULL")
	}
	user := set("user")
	if admin := set("admin"); admin != user || live() != 1 {
		t.Fatalf("admin in row %d, user was %d, %d live rows", admin, user, live())
	}
	if set("admin") != user {
		t.Fatal("the same role again moved the row")
	}
	if set("") != 0 || live() != 0 {
		t.Fatalf("removal left %d live rows", live())
	}
	if again := set("admin"); again != user || live() != 1 {
		t.Fatalf("restored admin in row %d, want %d", again, user)
	}
	if _, err := store.SetGroupRole(ctx, pool, 5, p1, "boss"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown role: %v", err)
	}
	siteadmin := access.For(access.UserCaller(2))
	for _, c := range []struct {
		o    store.RoleObject
		want bool
	}{{store.RoleObject{Site: true, ID: 1}, true}, {store.RoleObject{Site: true, ID: 2}, false}, {p1, true}, {store.RoleObject{ID: 3}, false}} {
		if ok, err := store.CanAdministerRoleObject(ctx, pool, siteadmin, c.o); err != nil || ok != c.want {
			t.Errorf("siteadmin administers %+v: %v %v, want %v", c.o, ok, err, c.want)
		}
	}
}
