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
// participants, ~100k sessions each at 1M. As the superadmin over every site, as each site's
// admin over its site, and as a project's admin over its site (its one project); and
// GET /api/user/stats?id_project=<p> as the superadmin and as the project's admin.
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
	// Object (site or project) and caller pairs.
	type target struct{ ID, User int32 }
	pairs := func(q string) []target {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[target])
		if err != nil || len(out) == 0 {
			b.Fatalf("%s: %d rows, %v", q, len(out), err)
		}
		return out
	}
	admins := pairs(`SELECT p.id_site, uug.id_user FROM core.t_services_roles r
		JOIN core.t_projects p ON p.id_project = r.id_project
		JOIN core.t_services_access sa ON sa.id_service_role = r.id_service_role
		JOIN core.t_users_users_groups uug ON uug.id_user_group = sa.id_user_group
		WHERE r.service_role_name = 'admin' AND p.project_name LIKE 'Scale Project %' ORDER BY 1, 2`)
	siteAdmins := pairs(`SELECT s.id_site, uug.id_user FROM core.t_services_roles r
		JOIN core.t_sites s ON s.id_site = r.id_site AND r.id_project IS NULL
		JOIN core.t_services_access sa ON sa.id_service_role = r.id_service_role
		JOIN core.t_users_users_groups uug ON uug.id_user_group = sa.id_user_group
		WHERE r.service_role_name = 'admin' AND s.site_name LIKE 'Scale Site %' ORDER BY 1, 2`)
	projectAdmins := pairs(`SELECT r.id_project, uug.id_user FROM core.t_services_roles r
		JOIN core.t_projects p ON p.id_project = r.id_project
		JOIN core.t_services_access sa ON sa.id_service_role = r.id_service_role
		JOIN core.t_users_users_groups uug ON uug.id_user_group = sa.id_user_group
		WHERE r.service_role_name = 'admin' AND p.project_name LIKE 'Scale Project %' ORDER BY 1, 2`)
	asSuper := func(ts []target) []target {
		out := make([]target, len(ts))
		for i, t := range ts {
			out[i] = target{t.ID, super}
		}
		return out
	}
	sites, projects := asSuper(siteAdmins), asSuper(projectAdmins)

	explain := func(name string, by store.StatsSelector, t target) {
		plan, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+store.StatsQuery(by),
			access.For(access.UserCaller(t.User)).Args(pgx.NamedArgs{"id": t.ID}))
		if err != nil {
			b.Fatal(err)
		}
		lines, _ := pgx.CollectRows(plan, pgx.RowTo[string])
		fmt.Fprintf(os.Stderr, "EXPLAIN ANALYZE %s (user %d, object %d):\n%s\n", name, t.User, t.ID, strings.Join(lines, "\n"))
	}
	explain("site stats, superadmin", store.StatsOfSite, sites[0])
	explain("site stats, site admin", store.StatsOfSite, siteAdmins[0])
	explain("site stats, project admin", store.StatsOfSite, admins[0])
	explain("project stats, superadmin", store.StatsOfProject, projects[0])

	// The first calls on a fresh connection: they plan every statement (and the PL/pgSQL
	// functions' statements) before the connection caches them.
	if conn, err := pgx.Connect(ctx, pool.Config().ConnConfig.ConnString()); err == nil {
		var took []string
		for i, t := range []target{sites[0], siteAdmins[0], admins[0], sites[1], siteAdmins[1], admins[1]} {
			t0 := time.Now()
			if _, err := store.Stats(ctx, conn, access.For(access.UserCaller(t.User)), store.StatsOfSite, t.ID, false, false); err != nil {
				b.Fatal(err)
			}
			took = append(took, fmt.Sprintf("#%d %s", i+1, time.Since(t0).Round(10*time.Microsecond)))
		}
		conn.Close(ctx)
		fmt.Fprintf(os.Stderr, "site stats on a fresh connection (superadmin, site admin, project admin, twice): %s\n", strings.Join(took, ", "))
	}

	for _, c := range []struct {
		name    string
		by      store.StatsSelector
		targets []target
		parts   bool
	}{{"superadmin", store.StatsOfSite, sites, false}, {"site-admin", store.StatsOfSite, siteAdmins, false},
		{"project-admin", store.StatsOfSite, admins, false}, {"project-admin/with_participants", store.StatsOfSite, admins, true},
		{"project/superadmin", store.StatsOfProject, projects, false}, {"project/project-admin", store.StatsOfProject, projectAdmins, false}} {
		b.Run(c.name, func(b *testing.B) {
			lat := make(latencies, 0, b.N)
			for i := 0; b.Loop(); i++ {
				t := c.targets[i%len(c.targets)]
				t0 := time.Now()
				out, err := store.Stats(ctx, pool, access.For(access.UserCaller(t.User)), c.by, t.ID, c.parts, false)
				lat = append(lat, time.Since(t0))
				if err != nil || out["participants_total_count"].(float64) == 0 || out["users_total_count"].(float64) == 0 {
					b.Fatalf("%+v: %v %v", t, out, err)
				}
			}
			lat.report(b)
		})
	}
}
