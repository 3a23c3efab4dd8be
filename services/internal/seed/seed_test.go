package seed_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/tera-health/tera/services/internal/seed"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// snapshot fingerprints every table of schema core (row count and a hash of all rows).
func snapshot(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'core' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tb := range tables {
		var n int
		var h string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM core.%s t`, tb)
		if err := pool.QueryRow(ctx, q).Scan(&n, &h); err != nil {
			t.Fatal(err)
		}
		out[tb] = fmt.Sprintf("%d:%s", n, h)
	}
	return out
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestTestDataIsExactAndIdempotent(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	if err := seed.TestData(ctx, pool); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pool)
	if err := seed.TestData(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := seed.Defaults(ctx, pool); err != nil { // defaults on a test database change nothing either
		t.Fatal(err)
	}
	after := snapshot(t, pool)
	for tb, v := range before {
		if after[tb] != v {
			t.Errorf("table %s changed on re-seed: %s -> %s", tb, v, after[tb])
		}
	}

	for q, want := range map[string]int{
		`SELECT count(*) FROM core.t_sessions`:          28,
		`SELECT count(*) FROM core.t_sessions_events`:   24,
		`SELECT count(*) FROM core.t_assets`:            7,
		`SELECT count(*) FROM core.t_tests`:             4,
		`SELECT count(*) FROM core.t_services`:          7,
		`SELECT count(*) FROM core.t_services_roles`:    22,
		`SELECT count(*) FROM core.t_services_sites`:    4,
		`SELECT count(*) FROM core.t_services_projects`: 4,
		`SELECT count(*) FROM core.t_services_roles WHERE id_service_role = 13 AND id_site = 1 AND service_role_name = 'admin'`:    1,
		`SELECT count(*) FROM core.t_services_roles WHERE id_service_role = 16 AND id_site = 2 AND service_role_name = 'user'`:     1,
		`SELECT count(*) FROM core.t_services_roles WHERE id_service_role = 17 AND id_project = 1 AND service_role_name = 'admin'`: 1,
		`SELECT count(*) FROM core.t_services_roles WHERE id_service_role = 22 AND id_project = 3 AND service_role_name = 'user'`:  1,
		`SELECT count(*) FROM core.t_devices WHERE id_device = 1 AND device_uuid = 'b707e0b2-e649-47e7-a938-2b949c423f73'`:         1,
		`SELECT count(*) FROM core.t_participants WHERE participant_token IS NOT NULL`:                                             2,
		`SELECT count(*) FROM core.t_sessions_participants WHERE id_participant = 2`:                                               3,
		`SELECT count(*) FROM core.t_sessions WHERE session_name = 'Séance #8'`:                                                    3,
	} {
		if got := count(t, pool, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	var hash string
	if err := pool.QueryRow(ctx, `SELECT user_password FROM core.t_users WHERE user_username = 'user3'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("user3")) != nil {
		t.Error("user3's password is not user3")
	}
}

func TestDefaults(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Defaults(ctx, pool); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pool)
	if err := seed.Defaults(ctx, pool); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, pool)
	for tb, v := range before {
		if after[tb] != v {
			t.Errorf("table %s changed on re-seed", tb)
		}
	}
	if got := count(t, pool, `SELECT count(*) FROM core.t_users WHERE user_username = 'admin' AND user_superadmin AND user_force_password_change`); got != 1 {
		t.Error("admin with forced password change missing")
	}
	if got := count(t, pool, `SELECT count(*) FROM core.t_services_roles WHERE id_service_role IN (9, 10) AND id_site = 1 AND id_service = 1`); got != 2 {
		t.Error("Default Site roles 9/10 missing")
	}
	if got := count(t, pool, `SELECT count(*) FROM core.t_services`); got != 5 {
		t.Errorf("%d services, want 5", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM core.t_server_settings`); got != 5 {
		t.Errorf("%d settings, want 5", got)
	}
}
