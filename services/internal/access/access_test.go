package access_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func rng(a, b int32) []int32 {
	var out []int32
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func union(sets ...[]int32) []int32 {
	var out []int32
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// The access matrix: for each seeded account and each object kind, the exact accessible ids,
// derived from REFERENCE §8 (siteadmin = admin S1, P1, P2; user = user P1, P2 (+user S1);
// user2 = admin S1/P1/P2; user3 = admin P1 (user S1); user4 = nothing; admin = everything) and
// the rules of §2. Group 3 (admins of site 1) is seen by the users of site 1's projects: its
// site admin role is admin of those projects (migration 00011, OpenTera's inherited roles).
func TestAccessMatrix(t *testing.T) {
	pool := testenv.FixtureDB(t)
	ctx := context.Background()
	all28 := rng(1, 28)
	p1users := []int32{3, 4, 5} // members of groups holding a role on P1/P2: user, user2, user3
	type want map[access.Object][]int32
	cases := []struct {
		name   string
		caller access.Caller
		want   want
	}{
		{"admin", access.UserCaller(1), want{
			access.Sites: {1, 2}, access.Projects: {1, 2, 3}, access.ParticipantGroups: {1, 2}, access.Participants: {1, 2, 3, 4},
			access.Devices: {1, 2, 3}, access.SessionTypes: {1, 2, 3, 4, 5}, access.Services: rng(1, 7),
			access.Users: rng(1, 6), access.UserGroups: rng(1, 5), access.Sessions: all28, access.TestTypes: {1, 2, 3}}},
		{"siteadmin", access.UserCaller(2), want{
			access.Sites: {1}, access.Projects: {1, 2}, access.ParticipantGroups: {1, 2}, access.Participants: {1, 2, 3},
			access.Devices: {1, 2}, access.SessionTypes: {1, 2, 3, 4, 5}, access.Services: {2, 3, 6},
			access.Users: union([]int32{2}, p1users), access.UserGroups: {1, 2, 3, 4}, access.Sessions: all28, access.TestTypes: {1, 2}}},
		{"user", access.UserCaller(3), want{
			access.Sites: {1}, access.Projects: {1, 2}, access.ParticipantGroups: {1, 2}, access.Participants: {1, 2, 3},
			access.Devices: {1, 2}, access.SessionTypes: {1, 2, 3, 4, 5}, access.Services: {3, 6},
			access.Users: p1users, access.UserGroups: {1, 2, 3, 4}, access.Sessions: all28, access.TestTypes: {1, 2}}},
		{"user2", access.UserCaller(4), want{
			access.Sites: {1}, access.Projects: {1, 2}, access.ParticipantGroups: {1, 2}, access.Participants: {1, 2, 3},
			access.Devices: {1, 2}, access.SessionTypes: {1, 2, 3, 4, 5}, access.Services: {2, 3, 6},
			access.Users: p1users, access.UserGroups: {1, 2, 3, 4}, access.Sessions: all28, access.TestTypes: {1, 2}}},
		{"user3", access.UserCaller(5), want{
			access.Sites: {1}, access.Projects: {1}, access.ParticipantGroups: {1}, access.Participants: {1, 2, 3},
			access.Devices: {1, 2}, access.SessionTypes: {1, 2, 3, 4, 5}, access.Services: {3, 6},
			access.Users: p1users, access.UserGroups: {1, 2, 3, 4}, access.Sessions: all28, access.TestTypes: {1, 2}}},
		{"user4", access.UserCaller(6), want{
			access.Sites: nil, access.Projects: nil, access.ParticipantGroups: nil, access.Participants: nil,
			access.Devices: nil, access.SessionTypes: nil, access.Services: nil,
			access.Users: {6}, access.UserGroups: nil, access.Sessions: nil, access.TestTypes: nil}},
		{"participant1", access.ParticipantCaller(1), want{
			access.Sites: {1}, access.Projects: {1}, access.ParticipantGroups: {1}, access.Participants: {1},
			access.Devices: {1}, access.SessionTypes: {1, 2, 3, 4}, access.Services: {3, 6},
			access.Users: nil, access.UserGroups: nil, access.Sessions: all28, access.TestTypes: {1, 2}}},
		{"device1", access.DeviceCaller(1), want{
			access.Sites: {1, 2}, access.Projects: {1, 3}, access.ParticipantGroups: nil, access.Participants: {1, 2},
			access.Devices: {1}, access.SessionTypes: {1, 2, 3, 4}, access.Services: {3, 6},
			access.Users: nil, access.UserGroups: nil, access.Sessions: rng(9, 20), access.TestTypes: {1, 2, 3}}},
		{"service VideoRehab", access.ServiceCaller(6), want{
			access.Sites: {1}, access.Projects: {1}, access.ParticipantGroups: {1}, access.Participants: {1, 2, 3},
			access.Devices: {1, 2}, access.SessionTypes: {1}, access.Services: {6},
			// users of P1 (user, user2, user3) + superadmin + admins of site 1 (siteadmin, user2);
			// no user group holds a VideoRehab role in the fixture (OpenTera's
			// get_accessible_usergroups, migration 00019).
			access.Users: {1, 2, 3, 4, 5}, access.UserGroups: {},
			// Every fixture session has Participant #1 (project 1) among its participants.
			access.Sessions: all28, access.TestTypes: {1, 2}}},
	}
	for _, c := range cases {
		for _, o := range access.AllObjects {
			t.Run(fmt.Sprintf("%s/%s", c.name, o), func(t *testing.T) {
				got, err := access.For(c.caller).List(ctx, pool, o)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, c.want[o]) {
					t.Errorf("got %v, want %v", got, c.want[o])
				}
			})
		}
	}
}

func TestRolesAndAdminOnly(t *testing.T) {
	pool := testenv.FixtureDB(t)
	ctx := context.Background()
	for _, c := range []struct {
		user          int32
		projects      map[int32]access.Role
		sites         map[int32]access.Role
		adminProjects []int32
	}{
		{2, map[int32]access.Role{1: "admin", 2: "admin"}, map[int32]access.Role{1: "admin"}, []int32{1, 2}},
		{3, map[int32]access.Role{1: "user", 2: "user"}, map[int32]access.Role{1: "user"}, nil},
		{4, map[int32]access.Role{1: "admin", 2: "admin"}, map[int32]access.Role{1: "admin"}, []int32{1, 2}},
		{5, map[int32]access.Role{1: "admin"}, map[int32]access.Role{1: "user"}, []int32{1}},
		{6, map[int32]access.Role{}, map[int32]access.Role{}, nil},
		{1, map[int32]access.Role{1: "admin", 2: "admin", 3: "admin"}, map[int32]access.Role{1: "admin", 2: "admin"}, []int32{1, 2, 3}},
	} {
		pr, err := access.ProjectRoles(ctx, pool, c.user)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := access.SiteRoles(ctx, pool, c.user)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(pr) != fmt.Sprint(c.projects) || fmt.Sprint(sr) != fmt.Sprint(c.sites) {
			t.Errorf("user %d: project roles %v site roles %v, want %v %v", c.user, pr, sr, c.projects, c.sites)
		}
		got, err := access.For(access.UserCaller(c.user)).AdminOnly().List(ctx, pool, access.Projects)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.adminProjects) {
			t.Errorf("user %d admin-only projects %v, want %v", c.user, got, c.adminProjects)
		}
	}
	sr, err := access.ServiceRoles(ctx, pool, 5)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sr) != "map[LoggingService:[admin]]" {
		t.Errorf("user3 service roles %v", sr)
	}
	// Fragments join inside a caller's query.
	f := access.For(access.UserCaller(5)).Projects()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM core.t_participants p WHERE p.id_project = @p AND p.id_project IN (`+f.SQL+`)`,
		f.With(pgx.NamedArgs{"p": 1})).Scan(&n); err != nil || n != 3 {
		t.Errorf("joined fragment: %d, %v", n, err)
	}
	ok, err := access.For(access.UserCaller(6)).Can(ctx, pool, access.Participants, 1)
	if err != nil || ok {
		t.Errorf("user4 can see participant 1: %v %v", ok, err)
	}
}

// The admin-only users are the users a caller may write (issue 9): itself, and, for an admin of
// a site, the non-superadmin users with a group holding a role on that site or its projects.
// Project admins (user3) administer no one else; a user without groups (user4) and every
// superadmin, even one sharing a site-1 group, are a superadmin's alone.
func TestAdminOnlyUsers(t *testing.T) {
	pool := testenv.FixtureDB(t)
	ctx := context.Background()
	// A second superadmin, member of group 3 (admins of site 1).
	if _, err := pool.Exec(ctx, `INSERT INTO core.t_users (id_user, user_uuid, user_username, user_password, user_firstname, user_lastname,
		user_enabled, user_profile, user_superadmin) VALUES (7, gen_random_uuid(), 'super2', 'x', 'S', 'S', true, '', true);
		INSERT INTO core.t_users_users_groups (id_user, id_user_group) VALUES (7, 3)`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user int32
		want []int32
	}{
		{1, rng(1, 7)},
		{2, []int32{2, 3, 4, 5}},
		{4, []int32{2, 3, 4, 5}},
		{3, []int32{3}},
		{5, []int32{5}},
		{6, []int32{6}},
		{7, rng(1, 7)},
	} {
		got, err := access.For(access.UserCaller(c.user)).AdminOnly().List(ctx, pool, access.Users)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("user %d administers users %v, want %v", c.user, got, c.want)
		}
	}
	// The read is unchanged: site 1's admins see the shared superadmin, never write it.
	got, err := access.For(access.UserCaller(2)).SiteWide().List(ctx, pool, access.Users)
	if err != nil || !slices.Contains(got, 7) {
		t.Errorf("siteadmin reads %v (%v), want user 7 among them", got, err)
	}
}
