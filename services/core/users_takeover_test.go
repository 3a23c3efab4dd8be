package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// usersSnapshot is every row of the user tables, in full (hashes, flags, version ids, deleted_at),
// so a refused write can be shown to have changed nothing.
func (e *env) usersSnapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT row_to_json(x)::text FROM core.t_users x ORDER BY id_user",
		"SELECT row_to_json(x)::text FROM core.t_users_users_groups x ORDER BY id_user_user_group",
		"SELECT row_to_json(x)::text FROM core.t_users_preferences x ORDER BY id_user_preference",
	} {
		rows, err := e.db.Query(context.Background(), q)
		if err != nil {
			e.t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				e.t.Fatal(err)
			}
			b.WriteString(s + "\n")
		}
		rows.Close()
	}
	return b.String()
}

// TestUsersSuperadminTakeover is issue 9's probe: site admins (siteadmin, user2) tried to take
// over superadmin accounts through every field of POST /api/user/users, DELETE, memberships and
// preferences. Every attempt is a 403 and no row of the user tables changes. The second
// superadmin is a member of group 3 (admins of site 1), the case where the write rule must look
// at the superadmin flag and not only at the shared group.
func TestUsersSuperadminTakeover(t *testing.T) {
	e := newEnv(t)
	super2 := int(e.post("admin", "/api/user/users", `{"user": {"id_user": 0, "user_username": "super2", "user_firstname": "Second",
		"user_lastname": "Super", "user_enabled": true, "user_profile": "", "user_password": "Super2#Passw0rd!", "user_superadmin": true}}`)["id_user"].(float64))
	link := scalar[int](e, `INSERT INTO core.t_users_users_groups (id_user, id_user_group) VALUES ($1, 3) RETURNING id_user_user_group`, super2)
	before := e.usersSnapshot()

	const hijack = "Hijack#Passw0rd!1"
	variants := map[string]string{
		"password":          `"user_password": "` + hijack + `"`,
		"rename":            `"user_firstname": "Hijacked", "user_lastname": "Account"`,
		"e-mail":            `"user_email": "attacker@example.org"`,
		"disable":           `"user_enabled": false`,
		"superadmin clear":  `"user_superadmin": false`,
		"superadmin set":    `"user_superadmin": true`,
		"groups":            `"user_user_groups": [{"id_user_group": 3}]`,
		"notes and profile": `"user_notes": "owned", "user_profile": {"x": 1}`,
		"force password":    `"user_force_password_change": true`,
		"2fa":               `"user_2fa_enabled": true`,
		"nothing":           `"user_email": null`,
	}
	cases := 0
	for _, who := range []string{"siteadmin", "user2", "siteadmin/token", "user2/token"} {
		for _, target := range []int{1, super2} {
			for name, fields := range variants {
				body := fmt.Sprintf(`{"user": {"id_user": %d, %s}}`, target, fields)
				if st, out := e.do(who, "POST", "/api/user/users", body); st != 403 {
					t.Errorf("%s %s on user %d: %d %s, want 403", who, name, target, st, out)
				}
				cases++
			}
			if st, out := e.do(who, "DELETE", fmt.Sprintf("/api/user/users?id=%d", target), nil); st != 403 {
				t.Errorf("%s delete user %d: %d %s, want 403", who, target, st, out)
			}
			pref := fmt.Sprintf(`{"user_preference": {"id_user": %d, "user_preference_app_tag": "openteraplus", "user_preference_preference": {"x": 1}}}`, target)
			if st, out := e.do(who, "POST", "/api/user/users/preferences", pref); st != 403 {
				t.Errorf("%s preferences of user %d: %d %s, want 403", who, target, st, out)
			}
			cases += 2
		}
		// Memberships of the second superadmin, and the flag on anyone (self included).
		if st, out := e.do(who, "DELETE", fmt.Sprintf("/api/user/users/usergroups?id=%d", link), nil); st != 403 {
			t.Errorf("%s delete membership of the second superadmin: %d %s, want 403", who, st, out)
		}
		self := map[string]int{"siteadmin": 2, "user2": 4}[strings.TrimSuffix(who, "/token")]
		for _, target := range []int{3, self} {
			if st, out := e.do(who, "POST", "/api/user/users", fmt.Sprintf(`{"user": {"id_user": %d, "user_superadmin": true}}`, target)); st != 403 {
				t.Errorf("%s sets user_superadmin on user %d: %d %s, want 403", who, target, st, out)
			}
		}
		// A user without groups (user4) is a superadmin's alone.
		if st, out := e.do(who, "POST", "/api/user/users", `{"user": {"id_user": 6, "user_password": "`+hijack+`"}}`); st != 403 {
			t.Errorf("%s on user4: %d %s, want 403", who, st, out)
		}
		if st, out := e.do(who, "DELETE", "/api/user/users?id=6", nil); st != 403 {
			t.Errorf("%s deletes user4: %d %s, want 403", who, st, out)
		}
		cases += 5
	}
	if after := e.usersSnapshot(); after != before {
		t.Errorf("refused writes changed the user tables:\nbefore %s\nafter  %s", before, after)
	}
	hash := e.field("user", 1, "password")
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(hijack)) == nil || bcrypt.CompareHashAndPassword([]byte(hash), []byte("admin")) != nil {
		t.Error("user 1's password changed")
	}
	t.Logf("%d takeover attempts refused", cases)

	// The rule still lets site admins write the users of their site, and superadmins everyone.
	e.post("siteadmin", "/api/user/users", `{"user": {"id_user": 3, "user_email": "user@site1.example"}}`)
	e.post("user2", "/api/user/users", `{"user": {"id_user": 5, "user_enabled": false}}`)
	e.post("admin", "/api/user/users", fmt.Sprintf(`{"user": {"id_user": %d, "user_superadmin": false}}`, super2))
	// Once demoted, the second user is an ordinary member of group 3: site 1's admins reach it.
	e.post("siteadmin", "/api/user/users", fmt.Sprintf(`{"user": {"id_user": %d, "user_notes": "demoted"}}`, super2))
}
