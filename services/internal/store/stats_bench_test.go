package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// BenchmarkStatsSite: the statement of GET /api/user/stats?id_site=<s> (store.Stats, counts
// only, and with_participants) with 10 sessions per participant: sites of 10 projects × ~1000
// participants, ~100k sessions each at 1M. As the superadmin over every site, and as a
// project's admin over its site (its one project).
func BenchmarkStatsSite(b *testing.B) {
	pool, _ := scaleSet(b, 10)
	benchStatsSite(b, pool)
}

func benchStatsSite(b *testing.B, pool *pgxpool.Pool) {
	ctx := context.Background()
	var super int32
	if err := pool.QueryRow(ctx, "SELECT id_user FROM core.t_users WHERE user_superadmin ORDER BY id_user LIMIT 1").Scan(&super); err != nil {
		b.Fatal(err)
	}
	type target struct{ Site, User int32 }
	rows, err := pool.Query(ctx, `SELECT p.id_site, uug.id_user FROM core.t_services_roles r
		JOIN core.t_projects p ON p.id_project = r.id_project
		JOIN core.t_services_access sa ON sa.id_service_role = r.id_service_role
		JOIN core.t_users_users_groups uug ON uug.id_user_group = sa.id_user_group
		WHERE r.service_role_name = 'admin' AND p.project_name LIKE 'Scale Project %' ORDER BY 1, 2`)
	if err != nil {
		b.Fatal(err)
	}
	admins, err := pgx.CollectRows(rows, pgx.RowToStructByPos[target])
	if err != nil || len(admins) == 0 {
		b.Fatal(err)
	}
	var sites []target
	for _, a := range admins {
		if len(sites) == 0 || sites[len(sites)-1].Site != a.Site {
			sites = append(sites, target{a.Site, super})
		}
	}
	plan, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+store.StatsQuery(store.StatsOfSite),
		access.For(access.UserCaller(super)).Args(pgx.NamedArgs{"id": sites[0].Site}))
	if err != nil {
		b.Fatal(err)
	}
	lines, _ := pgx.CollectRows(plan, pgx.RowTo[string])
	fmt.Fprintf(os.Stderr, "EXPLAIN ANALYZE site stats (superadmin, site %d):\n%s\n", sites[0].Site, strings.Join(lines, "\n"))

	for _, c := range []struct {
		name    string
		targets []target
		parts   bool
	}{{"superadmin", sites, false}, {"project-admin", admins, false}, {"project-admin/with_participants", admins, true}} {
		b.Run(c.name, func(b *testing.B) {
			lat := make(latencies, 0, b.N)
			for i := 0; b.Loop(); i++ {
				t := c.targets[i%len(c.targets)]
				t0 := time.Now()
				out, err := store.Stats(ctx, pool, access.For(access.UserCaller(t.User)), store.StatsOfSite, t.Site, c.parts, false)
				lat = append(lat, time.Since(t0))
				if err != nil || out["participants_total_count"].(float64) == 0 {
					b.Fatalf("%+v: %v %v", t, out, err)
				}
			}
			lat.report(b)
		})
	}
}
