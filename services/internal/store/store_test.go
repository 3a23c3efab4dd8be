package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// superadmin is the fixture's admin (id_user 1), whose scope covers every row.
var superadmin = access.For(access.UserCaller(1))

func fixture(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return testenv.FixtureDB(t)
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, q string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func wantIntegrity(t *testing.T, err error, msg string) {
	t.Helper()
	var ie *store.IntegrityError
	if !errors.As(err, &ie) || ie.Message != msg {
		t.Fatalf("got %v, want integrity refusal %q", err, msg)
	}
}

func TestDeleteRefusals(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		table store.Table
		id    int32
		msg   string
	}{
		{store.Participants, 1, "Participant still has sessions"},
		{store.Devices, 1, "Device still has participants"},
		{store.UserGroups, 1, "User group still has users"},
		{store.Users, 2, "User still has sessions"},
		{store.SessionTypes, 1, "Session type still has sessions"},
		{store.Services, 6, "Service still has sessions"},
		{store.Sites, 1, "Participant still has sessions"}, // through the cascade to its participants
		{store.Projects, 1, "Participant still has sessions"},
	} {
		wantIntegrity(t, store.Delete(ctx, pool, superadmin, c.table, c.id), c.msg)
		if n := scalar[int](t, pool, "SELECT count(*) FROM core."+c.table.Name+" WHERE deleted_at IS NOT NULL"); n != 0 {
			t.Fatalf("%s: refused delete left %d deleted rows", c.table.Name, n)
		}
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM core.t_participants WHERE deleted_at IS NOT NULL`); n != 0 {
		t.Fatal("a refused cascade deleted participants")
	}
	if err := store.Delete(ctx, pool, superadmin, store.UserGroups, 5); err != nil { // "No access!" has no members
		t.Fatal(err)
	}
	if err := store.Delete(ctx, pool, superadmin, store.UserGroups, 5); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	_, err := pool.Exec(ctx, `DELETE FROM core.t_devices_types WHERE id_device_type = 2`)
	if err == nil {
		t.Fatal("device type in use was deleted")
	}
}

func TestCascades(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	// Project 3 (Secret Project #1): participant 4 has no sessions, so it goes, with its links and roles.
	if err := store.Delete(ctx, pool, superadmin, store.Projects, 3); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM core.t_participants WHERE id_participant = 4 AND deleted_at IS NOT NULL`: 1,
		`SELECT count(*) FROM core.t_devices_projects WHERE id_project = 3 AND deleted_at IS NULL`:     0,
		`SELECT count(*) FROM core.t_services_projects WHERE id_project = 3 AND deleted_at IS NULL`:    0,
		`SELECT count(*) FROM core.t_services_roles WHERE id_project = 3 AND deleted_at IS NULL`:       0,
		`SELECT count(*) FROM core.t_tests_types_projects WHERE id_project = 3 AND deleted_at IS NULL`: 0,
	} {
		if got := scalar[int](t, pool, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	// Removing device 1 from site 1 removes its links to site 1's projects — refused while a
	// participant of project 1 is linked to it.
	wantIntegrity(t, store.DeleteLink(ctx, pool, store.DeviceSites, 1, 1), "Device still has participants in that project")
	// Session 9 deletion cascades its events/assets/invitees.
	if err := store.Delete(ctx, pool, superadmin, store.Sessions, 9); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM core.t_assets WHERE id_session = 9 AND deleted_at IS NULL`); n != 0 {
		t.Errorf("session 9 still has %d live assets", n)
	}
}

func TestLinksSoftInsertAndPrerequisites(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	id, err := store.InsertLink(ctx, pool, store.DeviceSites, 1, 1)
	if err != nil || id != 1 {
		t.Fatalf("existing link: %d %v", id, err)
	}
	// Device 3 is in no site: no project link, and no participant link without a project link.
	_, err = store.InsertLink(ctx, pool, store.DeviceProjects, 3, 1)
	wantIntegrity(t, err, "Device not associated to project site")
	_, err = store.InsertLink(ctx, pool, store.DeviceParticipants, 3, 1)
	wantIntegrity(t, err, "Device not associated to participant project")
	if _, err := store.InsertLink(ctx, pool, store.DeviceSites, 3, 1); err != nil {
		t.Fatal(err)
	}
	dp, err := store.InsertLink(ctx, pool, store.DeviceProjects, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Soft-deleted link restored with the same id.
	if err := store.DeleteLink(ctx, pool, store.DeviceProjects, 3, 1); err != nil {
		t.Fatal(err)
	}
	again, err := store.InsertLink(ctx, pool, store.DeviceProjects, 3, 1)
	if err != nil || again != dp {
		t.Fatalf("restore: %d (was %d) %v", again, dp, err)
	}
	// Service-project needs service-site; a SERVICE-category session type pulls its service in.
	_, err = store.InsertLink(ctx, pool, store.ServiceProjects, 7, 1)
	wantIntegrity(t, err, "Service not associated to project site")
	if _, err := store.InsertLink(ctx, pool, store.SessionTypeSites, 1, 2); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM core.t_services_sites WHERE id_service = 6 AND id_site = 2 AND deleted_at IS NULL`); n != 1 {
		t.Error("SERVICE session type did not link its service to the site")
	}
	// Removing a service from a site removes its project links there.
	if err := store.DeleteLink(ctx, pool, store.ServiceSites, 3, 2); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM core.t_services_projects WHERE id_service = 3 AND id_project = 3 AND deleted_at IS NULL`); n != 0 {
		t.Error("service-project survived its service-site")
	}
}

func TestUsernamesAndPasswords(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	for pw, ok := range map[string]bool{
		"Short1!":       false,
		"NoDigitsHere!": false,
		"nouppercase1!": false,
		"NOLOWERCASE1!": false,
		"NoSpecial123":  false,
		"OnlyAt@Sign12": false, // @ does not count as special
		"Valid#Pass12":  true,
		"Valid Pass12":  true,
	} {
		err := store.CheckPasswordPolicy(pw, "")
		var pe *store.PasswordPolicyError
		if ok != (err == nil) || (!ok && !errors.As(err, &pe)) {
			t.Errorf("%q: %v", pw, err)
		}
	}
	_, _, err := store.CreateUser(ctx, pool, store.NewUser{Username: "admin", Password: "Valid#Pass12", Firstname: "A", Lastname: "B", Enabled: true})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate username: %v", err)
	}
	// user4 has nothing attached: deleting it keeps its username taken (OpenTera's DB constraint).
	if err := store.Delete(ctx, pool, superadmin, store.Users, 6); err != nil {
		t.Fatal(err)
	}
	_, _, err = store.CreateUser(ctx, pool, store.NewUser{Username: "user4", Password: "Valid#Pass12", Firstname: "A", Lastname: "B", Enabled: true})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("username of a deleted user: %v", err)
	}
	id, _, err := store.CreateUser(ctx, pool, store.NewUser{Username: "newuser", Password: "Valid#Pass12", Firstname: "A", Lastname: "B", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	var pe *store.PasswordPolicyError
	if err := store.SetUserPassword(ctx, pool, id, "Valid#Pass12"); !errors.As(err, &pe) {
		t.Fatalf("same password accepted: %v", err)
	}
	// Participant usernames are unique among live rows only.
	_, err = pool.Exec(ctx, `INSERT INTO core.t_participants (participant_uuid, participant_name, participant_username, id_project)
		VALUES (gen_random_uuid(), 'dup', 'participant1', 1)`)
	if err == nil {
		t.Fatal("duplicate live participant username accepted")
	}
}

func TestSideEffects(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	// Disabling project 1 disables its participants and removes their device links.
	v := scalar[int64](t, pool, `SELECT version_id FROM core.t_projects WHERE id_project = 1`)
	if _, err := store.Update(ctx, pool, store.Projects, 1, v, map[string]any{"project_enabled": false}); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM core.t_participants WHERE id_project = 1 AND participant_enabled`); n != 0 {
		t.Errorf("%d participants still enabled", n)
	}
	if n := scalar[int](t, pool, `SELECT count(*) FROM core.t_devices_participants WHERE deleted_at IS NULL`); n != 0 {
		t.Errorf("%d device links left", n)
	}
	pv := scalar[int64](t, pool, `SELECT version_id FROM core.t_participants WHERE id_participant = 1`)
	_, err := store.Update(ctx, pool, store.Participants, 1, pv, map[string]any{"participant_enabled": true})
	wantIntegrity(t, err, "Participant cannot be enabled in a disabled project")
	// Optimistic lock: a stale version is a conflict.
	if _, err := store.Update(ctx, pool, store.Projects, 1, v, map[string]any{"project_name": "x"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	// Site 2FA: site-level role holders of site 1 (siteadmin, user2) and superadmins get 2FA;
	// project-only users (user, user3) do not.
	sv := scalar[int64](t, pool, `SELECT version_id FROM core.t_sites WHERE id_site = 1`)
	if _, err := store.Update(ctx, pool, store.Sites, 1, sv, map[string]any{"site_2fa_required": true}); err != nil {
		t.Fatal(err)
	}
	got := scalar[string](t, pool, `SELECT string_agg(id_user::text, ',' ORDER BY id_user) FROM core.t_users WHERE user_2fa_enabled`)
	if got != "1,2,4" {
		t.Errorf("2FA enabled for users %s, want 1,2,4", got)
	}
	// Joining a group with a site role on that site turns 2FA on too.
	if _, err := store.InsertLink(ctx, pool, store.UserUserGroups, 5, 3); err != nil {
		t.Fatal(err)
	}
	if !scalar[bool](t, pool, `SELECT user_2fa_enabled FROM core.t_users WHERE id_user = 5`) {
		t.Error("joining a 2FA site's admin group did not enable 2FA")
	}
}
