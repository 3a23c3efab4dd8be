package store

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tera-health/tera/services/internal/access"
)

// passwordSpecials are the characters OpenTera counts as special (note: @:;<=>? do not count).
const passwordSpecials = " !#$%&'()*+,-./[\\]^_`{|}~\""

// CheckPasswordPolicy applies OpenTera's user password policy: at least 10 characters, a digit,
// an upper-case letter, a lower-case letter and a special character; and different from the
// current password (oldHash, "" when none). It is the one implementation: the user API (core),
// the login flows and `tera admin` all call it.
func CheckPasswordPolicy(password, oldHash string) error {
	if utf8.RuneCountInString(password) < 10 {
		return &PasswordPolicyError{"Password not long enough"}
	}
	if len(password) > 72 { // bcrypt's limit: a longer password would be cut silently
		return &PasswordPolicyError{"Password too long"}
	}
	var digit, upper, lower, special bool
	for _, r := range password {
		switch {
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case strings.ContainsRune(passwordSpecials, r):
			special = true
		}
	}
	switch {
	case !digit:
		return &PasswordPolicyError{"Password must contain a digit"}
	case !upper:
		return &PasswordPolicyError{"Password must contain a capital letter"}
	case !lower:
		return &PasswordPolicyError{"Password must contain a lowercase letter"}
	case !special:
		return &PasswordPolicyError{"Password must contain a special character"}
	}
	if oldHash != "" && bcrypt.CompareHashAndPassword([]byte(oldHash), []byte(password)) == nil {
		return &PasswordPolicyError{"New password same as old password"}
	}
	return nil
}

// HashPassword hashes with bcrypt (verifiable by OpenTera's passlib and vice versa).
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Username, Password, Firstname, Lastname string
	Email                                   *string
	Enabled, Superadmin                     bool
	Profile                                 string
}

// CreateUser inserts a user after checking the password policy; a taken username (even by a
// soft-deleted user, as OpenTera) is a *ConflictError.
func CreateUser(ctx context.Context, db DB, u NewUser) (int32, string, error) {
	if err := CheckPasswordPolicy(u.Password, ""); err != nil {
		return 0, "", err
	}
	h, err := HashPassword(u.Password)
	if err != nil {
		return 0, "", err
	}
	uid := uuid.NewString()
	var id int32
	err = db.QueryRow(ctx, `INSERT INTO core.t_users AS u (user_uuid, user_username, user_password, user_firstname, user_lastname,
		user_email, user_enabled, user_superadmin, user_profile) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id_user`,
		uid, u.Username, h, u.Firstname, u.Lastname, u.Email, u.Enabled, u.Superadmin, u.Profile).Scan(&id)
	return id, uid, mapErr(err)
}

// SetUserPassword changes a user's password under the policy and clears a forced change.
func SetUserPassword(ctx context.Context, db DB, idUser int32, password string) error {
	var old string
	if err := db.QueryRow(ctx, `SELECT user_password FROM core.t_users WHERE id_user = $1 AND deleted_at IS NULL`, idUser).Scan(&old); err != nil {
		return mapErr(err)
	}
	if err := CheckPasswordPolicy(password, old); err != nil {
		return err
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `UPDATE core.t_users SET user_password = $2, user_force_password_change = false WHERE id_user = $1`, idUser, h)
	return mapErr(err)
}

// UserRow is a t_users row without its password or OTP secret.
type UserRow struct {
	IDUser            int32      `db:"id_user"`
	UserUUID          string     `db:"user_uuid"`
	Username          string     `db:"user_username"`
	Email             *string    `db:"user_email"`
	Firstname         string     `db:"user_firstname"`
	Lastname          string     `db:"user_lastname"`
	Enabled           bool       `db:"user_enabled"`
	Profile           string     `db:"user_profile"`
	Notes             *string    `db:"user_notes"`
	Lastonline        *time.Time `db:"user_lastonline"`
	Superadmin        bool       `db:"user_superadmin"`
	TwoFAEnabled      bool       `db:"user_2fa_enabled"`
	TwoFAOTPEnabled   bool       `db:"user_2fa_otp_enabled"`
	TwoFAEmailEnabled bool       `db:"user_2fa_email_enabled"`
	ForcePassword     bool       `db:"user_force_password_change"`
}

const userCols = `u.id_user, u.user_uuid, u.user_username, u.user_email, u.user_firstname, u.user_lastname, u.user_enabled,
       u.user_profile, u.user_notes, u.user_lastonline, u.user_superadmin, u.user_2fa_enabled, u.user_2fa_otp_enabled,
       u.user_2fa_email_enabled, u.user_force_password_change`

// UserFilter selects users; nil fields do not filter. Self, IDProject and IDUserGroup replace the
// scope's users by another set (see ListUsers).
type UserFilter struct {
	IDUser   *int32
	UUID     *string
	Username *string
	Enabled  *bool
	// Self keeps the caller alone.
	Self bool
	// IDProject keeps the enabled users holding a role in that project of the scope, superadmins
	// excepted (OpenTera's query_users_for_project: a superadmin is no member of a project).
	IDProject *int32
	// IDUserGroup keeps the members of that group of the scope.
	IDUserGroup *int32
}

const listUsersSQL = `
SELECT ` + userCols + `
  FROM core.t_users u
 WHERE u.deleted_at IS NULL
   AND CASE WHEN @self::boolean THEN @acc_kind::text = 'user' AND u.id_user = @acc_id::integer
            WHEN @id_project::integer IS NOT NULL THEN
              @id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
              AND u.user_enabled AND NOT u.user_superadmin
              AND EXISTS (SELECT 1 FROM core.user_project_roles(u.id_user) ur WHERE ur.id_project = @id_project)
            WHEN @id_user_group::integer IS NOT NULL THEN
              @id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean))
              AND u.id_user IN (SELECT uug.id_user FROM core.t_users_users_groups uug
                                 WHERE uug.id_user_group = @id_user_group AND uug.deleted_at IS NULL)
            ELSE u.id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean)) END
   AND (@id_user::integer IS NULL OR u.id_user = @id_user)
   AND (@uuid::text IS NULL OR u.user_uuid = @uuid)
   AND (@username::text IS NULL OR u.user_username = @username)
   AND (@enabled::boolean IS NULL OR u.user_enabled = @enabled)
 ORDER BY u.id_user`

// ListUsers returns the users of the scope that match f, by id.
func ListUsers(ctx context.Context, db DB, scope access.Scope, f UserFilter) ([]UserRow, error) {
	return list[UserRow](ctx, db, "list users", listUsersSQL, scope, pgx.NamedArgs{"self": f.Self, "id_project": f.IDProject,
		"id_user_group": f.IDUserGroup, "id_user": f.IDUser, "uuid": f.UUID, "username": f.Username, "enabled": f.Enabled})
}

// UserPatch is a partial write of a user; nil fields are left unchanged (or take the column
// default on insert). Password is in clear: the store checks the policy and hashes it.
type UserPatch struct {
	Username, Email, Firstname, Lastname, Notes, Profile, Password *string
	Enabled, ForcePassword, TwoFAEnabled, Superadmin               *bool
	// Groups, when not nil, is the user's set of groups among those the scope may grant
	// (access.Scope.GrantableUserGroups); other memberships are kept. Superadmins get none.
	Groups []int32
}

func (p UserPatch) args(id int32, hash *string) pgx.NamedArgs {
	return pgx.NamedArgs{"id_user": id, "user_username": p.Username, "user_email": p.Email, "user_firstname": p.Firstname,
		"user_lastname": p.Lastname, "user_notes": p.Notes, "user_profile": p.Profile, "user_password": hash,
		"user_enabled": p.Enabled, "user_force_password_change": p.ForcePassword, "user_2fa_enabled": p.TwoFAEnabled,
		"user_superadmin": p.Superadmin, "groups": p.Groups}
}

func (p UserPatch) columns() bool {
	return p.Email != nil || p.Firstname != nil || p.Lastname != nil || p.Notes != nil || p.Profile != nil || p.Password != nil ||
		p.Enabled != nil || p.ForcePassword != nil || p.TwoFAEnabled != nil || p.Superadmin != nil
}

// grantableSQL is true when every listed group is one the scope may grant.
const grantableSQL = `NOT EXISTS (SELECT 1 FROM unnest(@groups::int[]) w
                     WHERE w NOT IN (SELECT id FROM core.acc_user_groups_grantable(@acc_kind::text, @acc_id::integer)))`

// CanGrantUserGroups reports whether the scope may grant every listed group.
func CanGrantUserGroups(ctx context.Context, db DB, scope access.Scope, groups []int32) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT `+grantableSQL, scope.Args(pgx.NamedArgs{"groups": groups})).Scan(&ok)
	return ok, wrap("grantable user groups", err)
}

// A superadmin creates anyone; anyone else only a plain user put into groups it may grant (a user
// without groups would be a superadmin's alone, out of its creator's reach).
const insertUserSQL = `
INSERT INTO core.t_users AS u (user_uuid, user_username, user_password, user_firstname, user_lastname, user_email,
       user_enabled, user_profile, user_notes, user_superadmin, user_force_password_change, user_2fa_enabled)
SELECT gen_random_uuid()::text, @user_username, @user_password, @user_firstname, @user_lastname, @user_email,
       @user_enabled, coalesce(@user_profile::text, ''), @user_notes, coalesce(@user_superadmin::boolean, false),
       coalesce(@user_force_password_change::boolean, false), coalesce(@user_2fa_enabled::boolean, false)
 WHERE core.is_superadmin(@acc_kind::text, @acc_id::integer)
    OR (NOT coalesce(@user_superadmin::boolean, false) AND cardinality(@groups::int[]) > 0 AND ` + grantableSQL + `)
RETURNING ` + userCols

// InsertUser creates a user (ErrNotFound when the scope may not); a taken username, even by a
// soft-deleted user, is a *ConflictError.
func InsertUser(ctx context.Context, db DB, scope access.Scope, p UserPatch) (UserRow, error) {
	if p.Password == nil {
		return UserRow{}, &PasswordPolicyError{"Invalid password"}
	}
	hash, err := policyHash(*p.Password, "")
	if err != nil {
		return UserRow{}, err
	}
	u, err := one[UserRow](ctx, db, "insert user", insertUserSQL, scope, p.args(0, &hash))
	if err != nil {
		return u, err
	}
	return u, setUserGroups(ctx, db, scope, u.IDUser, p.Groups)
}

// The row lock keeps the target as checked until the write commits. Only a superadmin writes
// user_superadmin.
const lockUserSQL = `
SELECT ` + userCols + `, u.user_password FROM core.t_users u
 WHERE u.id_user = @id_user AND u.deleted_at IS NULL
   AND u.id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))
   AND (@user_superadmin::boolean IS NULL OR core.is_superadmin(@acc_kind::text, @acc_id::integer))
   FOR UPDATE OF u`

const updateUserSQL = `
UPDATE core.t_users u
   SET user_email = coalesce(@user_email, user_email),
       user_firstname = coalesce(@user_firstname, user_firstname),
       user_lastname = coalesce(@user_lastname, user_lastname),
       user_notes = coalesce(@user_notes, user_notes),
       user_profile = coalesce(@user_profile, user_profile),
       user_password = coalesce(@user_password, user_password),
       user_enabled = coalesce(@user_enabled, user_enabled),
       user_force_password_change = coalesce(@user_force_password_change, user_force_password_change),
       user_2fa_enabled = coalesce(@user_2fa_enabled, user_2fa_enabled),
       user_superadmin = coalesce(@user_superadmin, user_superadmin)
 WHERE u.id_user = @id_user AND u.deleted_at IS NULL
   AND u.id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))
   AND (@user_superadmin::boolean IS NULL OR core.is_superadmin(@acc_kind::text, @acc_id::integer))
RETURNING ` + userCols

// UpdateUser changes a user the scope administers (core.acc_users, admin-only form: itself, or
// a user of a site it administers; a superadmin by a superadmin alone), ErrNotFound otherwise.
// A new password must follow the policy and differ from the current one.
func UpdateUser(ctx context.Context, db DB, scope access.Scope, id int32, p UserPatch) (UserRow, error) {
	locked, err := one[struct {
		UserRow
		Password string `db:"user_password"`
	}](ctx, db, "lock user", lockUserSQL, scope, p.args(id, nil))
	if err != nil {
		return UserRow{}, err
	}
	u, hash := locked.UserRow, (*string)(nil)
	if p.Password != nil {
		h, err := policyHash(*p.Password, locked.Password)
		if err != nil {
			return u, err
		}
		hash = &h
	}
	if p.columns() {
		if u, err = one[UserRow](ctx, db, "update user", updateUserSQL, scope, p.args(id, hash)); err != nil {
			return u, err
		}
	}
	return u, setUserGroups(ctx, db, scope, id, p.Groups)
}

func policyHash(password, oldHash string) (string, error) {
	if err := CheckPasswordPolicy(password, oldHash); err != nil {
		return "", err
	}
	return HashPassword(password)
}

// setUserGroups makes groups the user's set among the groups the scope may grant, restoring
// soft-deleted links; nil changes nothing.
func setUserGroups(ctx context.Context, db DB, scope access.Scope, id int32, groups []int32) error {
	if groups == nil {
		return nil
	}
	_, err := db.Exec(ctx, `
WITH target AS (SELECT id_user FROM core.t_users WHERE id_user = @id_user AND NOT user_superadmin),
grantable AS (SELECT id FROM core.acc_user_groups_grantable(@acc_kind::text, @acc_id::integer)),
added AS (
  INSERT INTO core.t_users_users_groups AS l (id_user, id_user_group)
  SELECT DISTINCT t.id_user, w FROM target t, unnest(@groups::int[]) w WHERE w IN (SELECT id FROM grantable)
  ON CONFLICT (id_user, id_user_group) DO UPDATE SET deleted_at = NULL WHERE l.deleted_at IS NOT NULL)
UPDATE core.t_users_users_groups SET deleted_at = now()
 WHERE id_user IN (SELECT id_user FROM target) AND deleted_at IS NULL
   AND NOT (id_user_group = ANY(@groups::int[])) AND id_user_group IN (SELECT id FROM grantable)`,
		scope.Args(pgx.NamedArgs{"id_user": id, "groups": groups}))
	return wrap("set user groups", err)
}

// UserExists reports whether a live user has this id (OpenTera tells unknown users apart: 400).
func UserExists(ctx context.Context, db DB, id int32) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_users WHERE id_user = $1 AND deleted_at IS NULL)`, id).Scan(&ok)
	return ok, wrap("user exists", err)
}

// DeleteUser deletes a user the scope administers (ErrNotFound otherwise). A caller that does
// not administer every group of the user only takes the user out of its own groups, so the user
// is gone for it alone (OpenTera).
func DeleteUser(ctx context.Context, db DB, scope access.Scope, id int32) error {
	var others bool
	err := db.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM core.t_users_users_groups uug WHERE uug.id_user = u.id_user AND uug.deleted_at IS NULL
                  AND uug.id_user_group NOT IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, true, true)))
  FROM core.t_users u
 WHERE u.id_user = @id_user AND u.deleted_at IS NULL
   AND u.id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, false))
   FOR UPDATE OF u`, scope.Args(pgx.NamedArgs{"id_user": id})).Scan(&others)
	if err != nil {
		return wrap("delete user", err)
	}
	if !others {
		return Delete(ctx, db, scope.AdminOnly(), Users, id)
	}
	_, err = db.Exec(ctx, `UPDATE core.t_users_users_groups SET deleted_at = now()
 WHERE id_user = @id_user AND deleted_at IS NULL
   AND id_user_group IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, true, true))`,
		scope.Args(pgx.NamedArgs{"id_user": id}))
	return wrap("delete user", err)
}
