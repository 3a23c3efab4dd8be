package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Memberships (t_users_users_groups) and user preferences (t_users_preferences).

// MembershipRow is a user ↔ group link; with_empty rows have no link (nil ID) and only the
// selected side.
type MembershipRow struct {
	ID            *int32  `db:"id_user_user_group"`
	IDUser        *int32  `db:"id_user"`
	IDUserGroup   *int32  `db:"id_user_group"`
	UserFullname  *string `db:"user_fullname"`
	UserGroupName *string `db:"user_group_name"`
}

// MembershipFilter selects the links of a group (IDUserGroup) or of a user (IDUser), both of the
// scope; WithEmpty adds the scope's other users (or groups) without a link.
type MembershipFilter struct {
	IDUserGroup, IDUser *int32
	WithEmpty           bool
}

const listMembershipsSQL = `
SELECT uug.id_user_user_group, u.id_user, CASE WHEN uug.id_user_user_group IS NOT NULL THEN @g::int END AS id_user_group,
       u.user_firstname || ' ' || u.user_lastname AS user_fullname,
       CASE WHEN uug.id_user_user_group IS NOT NULL THEN (SELECT user_group_name FROM core.t_users_groups WHERE id_user_group = @g) END
         AS user_group_name, u.id_user AS k
  FROM core.t_users u
  LEFT JOIN core.t_users_users_groups uug ON uug.id_user = u.id_user AND uug.id_user_group = @g AND uug.deleted_at IS NULL
 WHERE @g::integer IS NOT NULL AND u.deleted_at IS NULL
   AND u.id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false))
   AND @g IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, false, false))
   AND (uug.id_user_user_group IS NOT NULL OR @empty::boolean)
UNION ALL
SELECT uug.id_user_user_group, CASE WHEN uug.id_user_user_group IS NOT NULL THEN @u::int END, g.id_user_group,
       CASE WHEN uug.id_user_user_group IS NOT NULL THEN (SELECT user_firstname || ' ' || user_lastname FROM core.t_users WHERE id_user = @u) END,
       g.user_group_name, g.id_user_group
  FROM core.t_users_groups g
  LEFT JOIN core.t_users_users_groups uug ON uug.id_user_group = g.id_user_group AND uug.id_user = @u AND uug.deleted_at IS NULL
 WHERE @g::integer IS NULL AND @u::integer IS NOT NULL AND g.deleted_at IS NULL
   AND g.id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, false, false))
   AND @u IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false))
   AND (uug.id_user_user_group IS NOT NULL OR @empty::boolean)
 ORDER BY 1 NULLS LAST, k`

// ListMemberships returns the links of f's group, or else of f's user.
func ListMemberships(ctx context.Context, db DB, scope access.Scope, f MembershipFilter) ([]MembershipRow, error) {
	rows, err := db.Query(ctx, listMembershipsSQL, scope.Args(pgx.NamedArgs{"g": f.IDUserGroup, "u": f.IDUser, "empty": f.WithEmpty}))
	if err != nil {
		return nil, wrap("list memberships", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MembershipRow, error) {
		var m MembershipRow
		var k int32
		return m, r.Scan(&m.ID, &m.IDUser, &m.IDUserGroup, &m.UserFullname, &m.UserGroupName, &k)
	})
	return out, wrap("list memberships", err)
}

// MembershipAccess is what a caller may do with one (user, group) pair: administer the user
// (core.acc_users, admin-only form), grant the group (acc_user_groups_grantable); superadmins
// belong to no group.
type MembershipAccess struct {
	User, Group, Superadmin bool
}

const membershipWritable = `@u IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))
   AND @g IN (SELECT id FROM core.acc_user_groups_grantable(@acc_kind::text, @acc_id::integer))`

// CheckMembership tells what the scope may do with the pair.
func CheckMembership(ctx context.Context, db DB, scope access.Scope, u, g int32) (MembershipAccess, error) {
	var a MembershipAccess
	err := db.QueryRow(ctx, `SELECT @u IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false)),
	       @g IN (SELECT id FROM core.acc_user_groups_grantable(@acc_kind::text, @acc_id::integer)),
	       coalesce((SELECT user_superadmin FROM core.t_users WHERE id_user = @u), false)`,
		scope.Args(pgx.NamedArgs{"u": u, "g": g})).Scan(&a.User, &a.Group, &a.Superadmin)
	return a, wrap("check membership", err)
}

// InsertMembership links a plain user to a group, both writable by the scope (ErrNotFound
// otherwise); an existing link, live or soft-deleted, is returned live.
func InsertMembership(ctx context.Context, db DB, scope access.Scope, u, g int32) (int32, error) {
	return writeID(ctx, db, "insert membership", `
INSERT INTO core.t_users_users_groups AS l (id_user, id_user_group)
SELECT @u, @g WHERE `+membershipWritable+`
   AND NOT (SELECT user_superadmin FROM core.t_users WHERE id_user = @u)
ON CONFLICT (id_user, id_user_group) DO UPDATE SET deleted_at = NULL
RETURNING id_user_user_group`, scope, pgx.NamedArgs{"u": u, "g": g})
}

// Membership is the (user, group) of a live link (ErrNotFound otherwise).
func Membership(ctx context.Context, db DB, id int32) (u, g int32, err error) {
	err = db.QueryRow(ctx, `SELECT id_user, id_user_group FROM core.t_users_users_groups
	 WHERE id_user_user_group = $1 AND deleted_at IS NULL`, id).Scan(&u, &g)
	return u, g, wrap("membership", err)
}

// DeleteMembership removes a live link whose user and group the scope may write (ErrNotFound
// otherwise).
func DeleteMembership(ctx context.Context, db DB, scope access.Scope, id int32) error {
	_, err := writeID(ctx, db, "delete membership", `
UPDATE core.t_users_users_groups SET deleted_at = now()
 WHERE id_user_user_group = @id AND deleted_at IS NULL
   AND id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))
   AND id_user_group IN (SELECT id FROM core.acc_user_groups_grantable(@acc_kind::text, @acc_id::integer))
RETURNING id_user_user_group`, scope, pgx.NamedArgs{"id": id})
	return err
}

// UserPreferenceRow is a t_users_preferences row.
type UserPreferenceRow struct {
	ID         int32  `db:"id_user_preference"`
	IDUser     int32  `db:"id_user"`
	AppTag     string `db:"user_preference_app_tag"`
	Preference string `db:"user_preference_preference"`
}

// ListUserPreferences returns the preferences of a user of the scope, of one app ("": all).
func ListUserPreferences(ctx context.Context, db DB, scope access.Scope, u int32, app string) ([]UserPreferenceRow, error) {
	return list[UserPreferenceRow](ctx, db, "list user preferences", `
SELECT id_user_preference, id_user, user_preference_app_tag, user_preference_preference
  FROM core.t_users_preferences
 WHERE id_user = @u AND (@app::text = '' OR user_preference_app_tag = @app)
   AND @u IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, false))
 ORDER BY id_user_preference`, scope, pgx.NamedArgs{"u": u, "app": app})
}

// SetUserPreference writes (pref "" deletes: nil row) the app's preference of a user the scope
// administers (ErrNotFound otherwise).
func SetUserPreference(ctx context.Context, db DB, scope access.Scope, u int32, app, pref string) (*UserPreferenceRow, error) {
	var ok bool
	args := scope.Args(pgx.NamedArgs{"u": u, "app": app, "pref": pref})
	if err := db.QueryRow(ctx, `SELECT @u::integer IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))`,
		args).Scan(&ok); err != nil || !ok {
		return nil, orNotFound(wrap("set user preference", err))
	}
	if pref == "" {
		_, err := db.Exec(ctx, `DELETE FROM core.t_users_preferences WHERE id_user = @u AND user_preference_app_tag = @app`, args)
		return nil, wrap("delete user preference", err)
	}
	r, err := one[UserPreferenceRow](ctx, db, "set user preference", `
INSERT INTO core.t_users_preferences (id_user, user_preference_app_tag, user_preference_preference)
SELECT @u, @app, @pref WHERE @u IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))
ON CONFLICT (id_user, user_preference_app_tag) DO UPDATE SET user_preference_preference = EXCLUDED.user_preference_preference
RETURNING id_user_preference, id_user, user_preference_app_tag, user_preference_preference`, scope, args)
	return &r, err
}
