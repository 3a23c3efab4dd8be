// Package seed loads OpenTera's seed data (REFERENCE §8): production defaults, the exact test
// fixture, and synthetic data at scale for benchmarks.
//
// Like OpenTera's create_defaults, each table is filled only when it is empty, so re-running a
// seed on a seeded database changes nothing. Everything runs in one transaction under a
// transaction-scoped advisory lock, so concurrent seeders do not interleave.
package seed

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/tera-health/tera/pkg/authn"
)

// DB is a pool, a connection or a transaction (a transaction nests as a savepoint).
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// OpenTeraServerUUID is the fixed uuid of service 1.
const OpenTeraServerUUID = "00000000-0000-0000-0000-000000000001"

// Device1UUID is the fixed uuid of the test fixture's device 1.
const Device1UUID = "b707e0b2-e649-47e7-a938-2b949c423f73"

const seedLock = 0x7e5a_5eed

func inTx(ctx context.Context, db DB, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("seed: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(seedLock)); err != nil {
		return fmt.Errorf("seed: lock: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// filler inserts rows into empty tables, with explicit ids, then moves the id sequence past them.
type filler struct {
	ctx context.Context
	tx  pgx.Tx
	err error
}

func (f *filler) empty(table string) bool {
	if f.err != nil {
		return false
	}
	var n bool
	if err := f.tx.QueryRow(f.ctx, "SELECT NOT EXISTS (SELECT 1 FROM core."+table+")").Scan(&n); err != nil {
		f.err = fmt.Errorf("seed %s: %w", table, err)
		return false
	}
	return n
}

// fill inserts rows (first column is the id) when the table is empty.
func (f *filler) fill(table string, cols []string, rows ...[]any) {
	if !f.empty(table) {
		return
	}
	f.insert(table, cols, rows...)
}

func (f *filler) insert(table string, cols []string, rows ...[]any) {
	if f.err != nil {
		return
	}
	ph := make([]string, len(cols))
	for i := range cols {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	q := fmt.Sprintf("INSERT INTO core.%s (%s) VALUES (%s)", table, strings.Join(cols, ", "), strings.Join(ph, ", "))
	for _, r := range rows {
		if _, err := f.tx.Exec(f.ctx, q, r...); err != nil {
			f.err = fmt.Errorf("seed %s %v: %w", table, r, err)
			return
		}
	}
	f.syncSeq(table, cols[0])
}

func (f *filler) syncSeq(table, pk string) {
	if f.err != nil {
		return
	}
	_, err := f.tx.Exec(f.ctx, fmt.Sprintf(
		"SELECT setval(pg_get_serial_sequence('core.%s', '%s'), greatest((SELECT max(%s) FROM core.%s), 1))", table, pk, pk, table))
	if err != nil {
		f.err = fmt.Errorf("seed %s sequence: %w", table, err)
	}
}

func (f *filler) exec(q string, args ...any) {
	if f.err != nil {
		return
	}
	if _, err := f.tx.Exec(f.ctx, q, args...); err != nil {
		f.err = fmt.Errorf("seed: %s: %w", q, err)
	}
}

func (f *filler) setting(name string) string {
	var v string
	if f.err != nil {
		return ""
	}
	if err := f.tx.QueryRow(f.ctx, "SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = $1", name).Scan(&v); err != nil {
		f.err = fmt.Errorf("seed: setting %s: %w", name, err)
	}
	return v
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		b[i] = alnum[k.Int64()]
	}
	return string(b)
}

func hash(pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		panic(err) // only fails on passwords over 72 bytes
	}
	return string(h)
}

// staticToken mints a fixture's static token (authn.StaticToken); the key is a setting this
// seed just wrote, so a failure is a bug.
func staticToken(key string, c authn.Claims) string {
	t, err := authn.StaticToken(key, c)
	if err != nil {
		panic(err)
	}
	return t
}

var settingCols = []string{"id_server_settings", "server_settings_name", "server_settings_value"}

func settings(f *filler) {
	f.fill("t_server_settings", settingCols,
		[]any{1, "TokenEncryptionKey", randomString(32)},
		[]any{2, "ParticipantTokenEncryptionKey", randomString(32)},
		[]any{3, "DeviceRegisterKey", randomString(10)},
		[]any{4, "ServerUUID", uuid.NewString()},
		[]any{5, "ServerVersions", ServerVersions},
	)
}

// ServerVersions is OpenTera's ServerVersions setting: the server's version and the client
// versions the login version gate compares X-Client-Name/X-Client-Version against.
const ServerVersions = `{"version_string": "1.3.0", "version_major": 1, "version_minor": 3, "version_patch": 0, ` +
	`"clients": {"OpenTeraPlus": {"client_name": "OpenTeraPlus", "client_description": "OpenTeraPlus", "client_version": "1.0.0"}}}`

var serviceCols = []string{"id_service", "service_uuid", "service_key", "service_name", "service_hostname", "service_port",
	"service_endpoint", "service_clientendpoint", "service_endpoint_user", "service_endpoint_participant", "service_endpoint_device",
	"service_enabled", "service_system", "service_editable_config", "service_has_assets", "service_has_tests", "service_default_config"}

func svc(id int, uid, key, name string, port int, client string, user, part, dev *string, system, editable, assets, tests bool) []any {
	if uid == "" {
		uid = uuid.NewString()
	}
	return []any{id, uid, key, name, "127.0.0.1", port, "/", client, user, part, dev, true, system, editable, assets, tests, "{}"}
}

func ptr(s string) *string { return &s }

var roleCols = []string{"id_service_role", "id_service", "service_role_name"}

// Defaults creates OpenTera's production defaults: server settings, services 1–5, their global
// roles, "Default Site" (with its OpenTeraServer roles 9/10) and user admin/admin, who must
// change that password at first login.
func Defaults(ctx context.Context, db DB) error {
	return inTx(ctx, db, func(tx pgx.Tx) error {
		f := &filler{ctx: ctx, tx: tx}
		settings(f)
		f.fill("t_services", serviceCols,
			svc(1, OpenTeraServerUUID, "OpenTeraServer", "OpenTera Server", 4040, "/", ptr("/user"), ptr("/participant"), ptr("/device"), true, true, false, false),
			svc(2, "", "LoggingService", "Logging Service", 4041, "/log", nil, nil, nil, true, false, false, false),
			svc(3, "", "FileTransferService", "File Transfer Service", 4042, "/file", nil, nil, nil, true, false, true, false),
			svc(4, "", "EmailService", "Email Service", 4043, "/mail", nil, nil, nil, true, false, false, false),
			svc(5, "", "VideoRehabService", "Télé-réadaptation vidéo", 4070, "/rehab", nil, ptr("/participant"), nil, true, true, false, false),
		)
		if f.empty("t_services_roles") {
			var rows [][]any
			for s := 2; s <= 5; s++ {
				rows = append(rows, []any{2*s - 3, s, "admin"}, []any{2*s - 2, s, "user"})
			}
			f.insert("t_services_roles", roleCols, rows...)
		}
		// EmailService's default templates (its create_defaults on an empty table).
		f.exec(`INSERT INTO email.t_email_templates (email_template_key, email_template_language, email_template)
			SELECT * FROM (VALUES
			  ('INVITE_EMAIL', 'en', 'Hello,<br><br>You''ve been invited to join sessions on the OpenTera platform.<br><br>'
			     || 'To connect to sessions, please click on this link: $join_link.<br><br>'
			     || 'You can also add this link to your browser''s bookmarks.<br><br>Enjoy your sessions!<br><br>$fullname'),
			  ('INVITE_EMAIL', 'fr', 'Bonjour,<br><br>Vous êtes invité à participer à des séances via la plateforme OpenTera.<br><br>'
			     || 'Pour rejoindre vos séances, veuillez cliquer sur ce lien: $join_link.<br><br>'
			     || 'Vous pouvez également ajouter ce lien dans les favoris de votre navigateur<br><br>Bonnes séances!<br><br>$fullname')) t
			 WHERE NOT EXISTS (SELECT 1 FROM email.t_email_templates)`)
		// The site's OpenTeraServer roles (9, 10) come from the site insert trigger.
		if f.empty("t_sites") {
			f.insert("t_sites", []string{"id_site", "site_name"}, []any{1, "Default Site"})
			f.syncSeq("t_services_roles", "id_service_role")
		}
		f.fill("t_users", []string{"id_user", "user_uuid", "user_username", "user_password", "user_firstname", "user_lastname",
			"user_email", "user_enabled", "user_profile", "user_superadmin", "user_force_password_change"},
			[]any{1, uuid.NewString(), "admin", hash("admin"), "Super", "Admin", "admin@opentera.org", true, "", true, true})
		return f.err
	})
}
