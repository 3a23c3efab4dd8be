package store

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
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
	err = db.QueryRow(ctx, `INSERT INTO core.t_users (user_uuid, user_username, user_password, user_firstname, user_lastname,
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
