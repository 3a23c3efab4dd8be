package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/store"
)

// `tera admin` works on the database (and, for lockouts, NATS) directly, bypassing the API: it
// is for the day the only administrator cannot log in. Passwords are never taken as flags (they
// would land in shell history and in /proc): they are prompted for on a terminal, or read as the
// first line of stdin.
func newAdminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Recover access without the API: create a user, reset a password, unlock, disable 2FA, list superadmins",
		Long: `Administrative commands that work on the database directly, for the day the only administrator
is locked out. They need --database-url (env TERA_DATABASE_URL); unlock also needs --nats-url
(env TERA_NATS_URL), since login attempt counters live in NATS KV.

Passwords are prompted for (twice) on a terminal, or read from the first line of stdin, and must
pass the same policy as the API: at least 10 characters with a digit, an upper-case letter, a
lower-case letter and a special character.`,
		Example: `  tera admin create-user --username alice --superadmin
  echo 'N3w-Passw0rd!' | tera admin reset-password --username admin
  tera admin unlock --username admin --nats-url nats://nats:4222
  tera admin disable-2fa --username admin
  tera admin list-superadmins`,
	}
	cmd.AddCommand(newAdminCreateUserCmd(), newAdminResetPasswordCmd(), newAdminUnlockCmd(),
		newAdminDisable2FACmd(), newAdminListSuperadminsCmd())
	return cmd
}

// adminDB opens the database of an admin command (no migration: admin works on what is there).
func adminDB(cmd *cobra.Command, flags *configFlags) (*pgxpool.Pool, fleet.Config, error) {
	cfg, err := flags.load(cmd)
	if err != nil {
		return nil, cfg, err
	}
	if err := cfg.Validate(true, false); err != nil {
		return nil, cfg, err
	}
	pool, err := fleet.OpenDB(cmd.Context(), cfg.Database)
	if err != nil {
		return nil, cfg, err
	}
	if err := pool.Ping(cmd.Context()); err != nil {
		pool.Close()
		return nil, cfg, fmt.Errorf("connect to the database: %w", err)
	}
	return pool, cfg, nil
}

// adminTx runs fn in one transaction on the database of an admin command: all of it or nothing.
func adminTx(cmd *cobra.Command, flags *configFlags, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx := cmd.Context()
	pool, _, err := adminDB(cmd, flags)
	if err != nil {
		return err
	}
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// forcePasswordChange makes the user's next login ask for a new password.
func forcePasswordChange(ctx context.Context, tx pgx.Tx, id int32) error {
	_, err := tx.Exec(ctx, `UPDATE core.t_users SET user_force_password_change = true WHERE id_user = $1`, id)
	return err
}

type adminUser struct {
	ID                       int32
	UUID                     string
	Enabled, Superadmin      bool
	TwoFA, TwoFAOTP, TwoFAEm bool
}

func findUser(ctx context.Context, db store.DBTX, username string) (adminUser, error) {
	var u adminUser
	err := db.QueryRow(ctx, `SELECT id_user, user_uuid, user_enabled, user_superadmin, user_2fa_enabled, user_2fa_otp_enabled,
		user_2fa_email_enabled FROM core.t_users WHERE deleted_at IS NULL AND user_username = $1`, username).
		Scan(&u.ID, &u.UUID, &u.Enabled, &u.Superadmin, &u.TwoFA, &u.TwoFAOTP, &u.TwoFAEm)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("no user named %q", username)
	}
	if err != nil {
		return u, fmt.Errorf("look up user %q: %w", username, err)
	}
	return u, nil
}

// readPassword prompts twice on a terminal, else reads stdin's first line.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		prompt := func(label string) (string, error) {
			fmt.Fprint(cmd.ErrOrStderr(), label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			return string(b), err
		}
		pw, err := prompt("New password: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		again, err := prompt("Repeat it: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if pw != again {
			return "", errors.New("the two passwords differ")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password: type it at the prompt or pipe it on stdin")
	}
	return pw, nil
}

func newAdminCreateUserCmd() *cobra.Command {
	var flags configFlags
	var u store.NewUser
	var email string
	var mustChange bool
	cmd := &cobra.Command{
		Use:   "create-user --username NAME [--superadmin]",
		Short: "Create an enabled user (the password is prompted for or read from stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(u.Username) == "" || len(u.Username) > 50 {
				return errors.New("--username is required (at most 50 characters)")
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			u.Password, u.Enabled, u.Profile = pw, true, ""
			if email != "" {
				u.Email = &email
			}
			if u.Firstname == "" {
				u.Firstname = u.Username
			}
			var id int32
			var uid string
			err = adminTx(cmd, &flags, func(ctx context.Context, tx pgx.Tx) error {
				var err error
				id, uid, err = store.CreateUser(ctx, tx, u)
				var conflict *store.ConflictError
				if errors.As(err, &conflict) {
					return fmt.Errorf("username %q is taken (possibly by a deleted user)", u.Username)
				}
				if err == nil && mustChange {
					err = forcePasswordChange(ctx, tx, id)
				}
				if err != nil {
					return fmt.Errorf("create user: %w", err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			kind := "user"
			if u.Superadmin {
				kind = "superadmin"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s %q (id_user %d, uuid %s)\n", kind, u.Username, id, uid)
			return nil
		},
	}
	flags.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&u.Username, "username", "", "login name (required)")
	fl.StringVar(&u.Firstname, "firstname", "", "first name (default: the username)")
	fl.StringVar(&u.Lastname, "lastname", "", "last name")
	fl.StringVar(&email, "email", "", "email address")
	fl.BoolVar(&u.Superadmin, "superadmin", false, "make the user a superadmin")
	fl.BoolVar(&mustChange, "must-change-password", false, "ask for a new password at first login")
	return cmd
}

func newAdminResetPasswordCmd() *cobra.Command {
	var flags configFlags
	var username string
	var mustChange bool
	cmd := &cobra.Command{
		Use:   "reset-password --username NAME",
		Short: "Set a user's password (prompted for or read from stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return errors.New("--username is required")
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			var u adminUser
			err = adminTx(cmd, &flags, func(ctx context.Context, tx pgx.Tx) error {
				var err error
				if u, err = findUser(ctx, tx, username); err != nil {
					return err
				}
				err = store.SetUserPassword(ctx, tx, u.ID, pw)
				if err == nil && mustChange {
					err = forcePasswordChange(ctx, tx, u.ID)
				}
				if err != nil {
					return fmt.Errorf("reset password of %q: %w", username, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %q reset\n", username)
			if !u.Enabled {
				fmt.Fprintf(cmd.OutOrStdout(), "note: %q is disabled; `tera admin unlock --enable` enables it\n", username)
			}
			return nil
		},
	}
	flags.register(cmd, false)
	cmd.Flags().StringVar(&username, "username", "", "the user (required)")
	cmd.Flags().BoolVar(&mustChange, "must-change-password", false, "ask for a new password at next login")
	return cmd
}

func newAdminUnlockCmd() *cobra.Command {
	var flags configFlags
	var username string
	var enable bool
	cmd := &cobra.Command{
		Use:   "unlock --username NAME [--enable]",
		Short: "Clear a user's failed login and 2FA attempt counters (NATS KV); --enable also re-enables the account",
		Long: `A user is locked out for 120 s after 5 failed passwords and for 900 s after 5 failed 2FA codes;
the counters live in the NATS KV buckets ` + authn.BucketLoginAttempts + ` and ` + authn.Bucket2FAAttempts + `, shared by
every login replica. unlock purges both for the user. A disabled account (user_enabled false) is
another matter: --enable turns it back on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return errors.New("--username is required")
			}
			ctx := cmd.Context()
			pool, cfg, err := adminDB(cmd, &flags)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := cfg.Validate(true, true); err != nil {
				return err
			}
			u, err := findUser(ctx, pool, username)
			if err != nil {
				return err
			}
			nc, js, err := fleet.OpenNATS(cfg.NATS, server.NewLogger(cmd.ErrOrStderr(), cfg.Log), "tera-admin")
			if err != nil {
				return err
			}
			defer nc.Close()
			nctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			state, err := authn.OpenState(nctx, js)
			if err != nil {
				return fmt.Errorf("open the login state in NATS: %w", err)
			}
			key := authn.AttemptsKey(authn.KindUser, u.UUID)
			for _, c := range []struct {
				what   string
				bucket *authn.Bucket
			}{{"failed logins", state.Attempts}, {"failed 2FA codes", state.TwoFAAttempts}} {
				n, err := authn.Attempts(nctx, c.bucket, key)
				if err != nil {
					return fmt.Errorf("read %s of %q: %w", c.what, username, err)
				}
				if err := authn.ResetAttempts(nctx, c.bucket, key); err != nil {
					return fmt.Errorf("clear %s of %q: %w", c.what, username, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s of %q: %d cleared\n", c.what, username, n)
			}
			switch {
			case enable && !u.Enabled:
				if _, err := pool.Exec(ctx, `UPDATE core.t_users SET user_enabled = true WHERE id_user = $1`, u.ID); err != nil {
					return fmt.Errorf("enable %q: %w", username, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%q enabled\n", username)
			case !u.Enabled:
				fmt.Fprintf(cmd.OutOrStdout(), "note: %q is disabled; add --enable to enable it\n", username)
			}
			return nil
		},
	}
	flags.register(cmd, false)
	cmd.Flags().StringVar(&flags.natsURL, "nats-url", "", "NATS URL with JetStream, nats://host:4222 (env TERA_NATS_URL)")
	cmd.Flags().StringVar(&username, "username", "", "the user (required)")
	cmd.Flags().BoolVar(&enable, "enable", false, "also enable the account if it is disabled")
	return cmd
}

func newAdminDisable2FACmd() *cobra.Command {
	var flags configFlags
	var username string
	cmd := &cobra.Command{
		Use:   "disable-2fa --username NAME",
		Short: "Remove a user's 2FA (OTP secret included), for a lost authenticator",
		Long: `Turns 2FA off and forgets the OTP secret. When a site the user works on requires 2FA (or the user
is a superadmin and any site requires it), 2FA stays required: the next login asks to set up a
new authenticator instead of asking for a code from the lost one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return errors.New("--username is required")
			}
			ctx := cmd.Context()
			pool, _, err := adminDB(cmd, &flags)
			if err != nil {
				return err
			}
			defer pool.Close()
			u, err := findUser(ctx, pool, username)
			if err != nil {
				return err
			}
			// The same rule as core.enforce_site_2fa: a superadmin, or a site-level role
			// (through a user group) on a site requiring 2FA.
			var required bool
			err = pool.QueryRow(ctx, `WITH upd AS (
				UPDATE core.t_users u SET user_2fa_otp_enabled = false, user_2fa_email_enabled = false, user_2fa_otp_secret = NULL,
				  user_2fa_enabled = EXISTS (
				    SELECT 1 FROM core.t_sites s WHERE s.site_2fa_required AND s.deleted_at IS NULL AND (u.user_superadmin OR EXISTS (
				      SELECT 1 FROM core.t_users_users_groups uug
				        JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
				        JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
				       WHERE uug.id_user = u.id_user AND uug.deleted_at IS NULL AND sr.id_site = s.id_site AND sr.id_project IS NULL)))
				 WHERE u.id_user = $1 RETURNING user_2fa_enabled)
				SELECT user_2fa_enabled FROM upd`, u.ID).Scan(&required)
			if err != nil {
				return fmt.Errorf("disable 2FA of %q: %w", username, err)
			}
			if required {
				fmt.Fprintf(cmd.OutOrStdout(), "2FA secret of %q removed; a site requires 2FA, so the next login sets up a new authenticator\n", username)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "2FA disabled for %q\n", username)
			}
			return nil
		},
	}
	flags.register(cmd, false)
	cmd.Flags().StringVar(&username, "username", "", "the user (required)")
	return cmd
}

func newAdminListSuperadminsCmd() *cobra.Command {
	var flags configFlags
	cmd := &cobra.Command{
		Use:   "list-superadmins",
		Short: "List the superadmins with their state (enabled, 2FA, forced password change, last login)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, _, err := adminDB(cmd, &flags)
			if err != nil {
				return err
			}
			defer pool.Close()
			rows, err := pool.Query(ctx, `SELECT id_user, user_username, user_uuid, user_enabled, user_2fa_enabled AND user_2fa_otp_enabled,
				user_force_password_change, user_lastonline FROM core.t_users WHERE deleted_at IS NULL AND user_superadmin ORDER BY id_user`)
			if err != nil {
				return fmt.Errorf("list superadmins: %w", err)
			}
			defer rows.Close()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSERNAME\tUUID\tENABLED\t2FA\tMUST CHANGE PASSWORD\tLAST ONLINE")
			n := 0
			for rows.Next() {
				var id int32
				var name, uid string
				var enabled, twoFA, mustChange bool
				var last *time.Time
				if err := rows.Scan(&id, &name, &uid, &enabled, &twoFA, &mustChange, &last); err != nil {
					return fmt.Errorf("list superadmins: %w", err)
				}
				lastS := "never"
				if last != nil {
					lastS = last.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", id, name, uid, yesNo(enabled), yesNo(twoFA), yesNo(mustChange), lastS)
				n++
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("list superadmins: %w", err)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no superadmin: create one with `tera admin create-user --superadmin`")
			}
			return nil
		},
	}
	flags.register(cmd, false)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
