package accessmatrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tera-health/tera/pkg/server"
)

// idTables maps id fields to the table whose ids they take. "id" is the primary-id alias of
// DELETE and of some GETs: it takes every id of every table listed here.
var idTables = map[string]string{
	"id_site": "t_sites", "id_project": "t_projects", "id_participant": "t_participants",
	"id_participant_group": "t_participants_groups", "id_group": "t_participants_groups",
	"id_user": "t_users", "id_user_group": "t_users_groups", "id_device": "t_devices",
	"id_service": "t_services", "id_service_role": "t_services_roles", "id_service_access": "t_services_access",
	"id_site_access": "t_services_access", "id_project_access": "t_services_access",
	"id_service_config": "t_services_configs", "id_session_type": "t_sessions_types", "id_session": "t_sessions",
	"id_service_project": "t_services_projects", "id_service_site": "t_services_sites",
	"id_user_user_group": "t_users_users_groups", "id_user_preference": "t_users_preferences",
	"id_device_type": "t_devices_types", "id_device_subtype": "t_devices_subtypes", "id_asset": "t_assets",
	"id_test": "t_tests", "id_test_type": "t_tests_types", "id_session_event": "t_sessions_events",
	"id_test_invitation": "t_tests_invitations", "id_session_type_site": "t_sessions_types_sites",
	"id_session_type_project": "t_sessions_types_projects", "id_session_type_service": "t_sessions_types_services",
	"id_test_type_site": "t_tests_types_sites", "id_test_type_project": "t_tests_types_projects",
	"id_device_site":    "t_devices_sites",
	"id_device_project": "t_devices_projects", "id_device_participant": "t_devices_participants",
	"id_creator_user": "t_users", "id_creator_participant": "t_participants", "id_creator_device": "t_devices",
	"id_creator_service": "t_services", "id_participant_group_access": "t_services_access",
	"id_template": "email.t_email_templates", "id_email_template": "email.t_email_templates",
	// The service API's session type POST lists them.
	"id_sites": "t_sites", "id_projects": "t_projects", "id_participants": "t_participants",
}

// stringSelectors are the values GET selectors by name or uuid take.
var stringSelectors = map[string]string{
	"user_uuid":        "SELECT user_uuid FROM core.t_users",
	"participant_uuid": "SELECT participant_uuid FROM core.t_participants",
	"device_uuid":      "SELECT device_uuid FROM core.t_devices",
	"service_uuid":     "SELECT service_uuid FROM core.t_services",
	"uuid": `SELECT user_uuid FROM core.t_users UNION ALL SELECT participant_uuid FROM core.t_participants
	         UNION ALL SELECT device_uuid FROM core.t_devices UNION ALL SELECT service_uuid FROM core.t_services`,
	"username":       "SELECT user_username FROM core.t_users UNION ALL SELECT participant_username FROM core.t_participants WHERE participant_username IS NOT NULL",
	"name":           "SELECT site_name FROM core.t_sites UNION ALL SELECT project_name FROM core.t_projects UNION ALL SELECT participant_name FROM core.t_participants",
	"service_key":    "SELECT service_key FROM core.t_services",
	"key":            "SELECT service_key FROM core.t_services",
	"app_tag":        "SELECT DISTINCT user_preference_app_tag FROM core.t_users_preferences",
	"id_specific":    "SELECT DISTINCT service_config_specific_id FROM core.t_services_configs_specifics",
	"session_uuid":   "SELECT session_uuid FROM core.t_sessions",
	"asset_uuid":     "SELECT asset_uuid FROM core.t_assets",
	"test_uuid":      "SELECT test_uuid FROM core.t_tests",
	"test_type_uuid": "SELECT test_type_uuid FROM core.t_tests_types",
}

func newValues(ctx context.Context, db *pgxpool.Pool) (*values, error) {
	tabs := map[string]string{}
	for _, sch := range []string{"core", "email"} {
		t, err := tables(ctx, db, sch)
		if err != nil {
			return nil, err
		}
		for name, pk := range t {
			if sch == "core" {
				tabs[name] = pk
			}
			tabs[sch+"."+name] = pk
		}
	}
	v := &values{ids: map[string][]int64{}, strings: map[string][]string{}, missing: map[string]bool{}}
	all := map[int64]bool{0: true}
	for field, t := range idTables {
		pk, ok := tabs[t]
		if !ok {
			return nil, fmt.Errorf("id field %s: no table %s", field, t)
		}
		if !strings.Contains(t, ".") {
			t = "core." + t
		}
		rows, err := db.Query(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY 1", pk, t))
		if err != nil {
			return nil, err
		}
		ids := []int64{0}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
			all[id] = true
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		v.ids[field] = ids
	}
	for id := range all {
		v.ids["id"] = append(v.ids["id"], id)
	}
	// Enumerations carried in id fields.
	v.ids["id_session_event_type"] = []int64{0, 1, 3, 4, 11}
	sort.Slice(v.ids["id"], func(i, j int) bool { return v.ids["id"][i] < v.ids["id"][j] })
	for field, q := range stringSelectors {
		rows, err := db.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return nil, err
			}
			v.strings[field] = append(v.strings[field], s)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// sample keeps at most n values of a list (its ends and evenly spaced ones between): reads are
// filtered by one selector, a handful of ids in and out of scope show a leak as well as all.
func sample[T any](l []T, n int) []T {
	if len(l) <= n {
		return l
	}
	out := []T{}
	for i := 0; i < n; i++ {
		out = append(out, l[i*(len(l)-1)/(n-1)])
	}
	return out
}

// readRequests are the requests of a gateway GET route: no selector; every flag on (except
// list, which only hides fields); then each selector through its values, flags on.
func readRequests(r route, v *values) ([]request, []string) {
	var problems []string
	flags := url.Values{}
	type sel struct {
		name string
		vals []string
	}
	var sels []sel
	fields := r.input.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := string(f.Name())
		if f.IsList() || f.IsMap() {
			continue
		}
		switch f.Kind() {
		case protoreflect.BoolKind:
			if name != "list" {
				flags.Set(name, "true")
			}
		case protoreflect.Int32Kind, protoreflect.Int64Kind:
			if !isID(name) {
				continue
			}
			ids := v.idValues(name)
			if ids == nil {
				problems = append(problems, fmt.Sprintf("%s: id field %s maps to no table (idTables)", r.name, name))
				continue
			}
			var s sel
			s.name = name
			for _, id := range sample(ids, 3) {
				s.vals = append(s.vals, fmt.Sprint(id))
			}
			sels = append(sels, s)
		case protoreflect.StringKind:
			if vals, ok := v.strings[name]; ok {
				sels = append(sels, sel{name, sample(vals, 3)})
			}
		}
	}
	out := []request{{route: r.name, method: "GET", path: r.path}}
	if len(flags) > 0 {
		out = append(out, request{route: r.name, method: "GET", path: r.path, query: flags})
	}
	for _, s := range sels {
		for _, x := range s.vals {
			q := url.Values{}
			for k, val := range flags {
				q[k] = val
			}
			q.Set(s.name, x)
			out = append(out, request{route: r.name, method: "GET", path: r.path, query: q})
		}
	}
	return out, problems
}

// plainRoutes turns the declared plain HTTP route table into routes: GET is a read, any other
// method a write, which needs a request builder in plainWrites ("METHOD path") or fails the walk.
func plainRoutes(table []server.Route) ([]route, []string) {
	var out []route
	var problems []string
	for _, rt := range table {
		if strings.Contains(rt.Path, "{") {
			problems = append(problems, fmt.Sprintf("plain route %q: path variables are not built", rt.Path))
			continue
		}
		methods := make([]string, 0, len(rt.Methods))
		for m := range rt.Methods {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			name := m + " " + rt.Path + " (plain)"
			switch m {
			case "GET", "HEAD":
				if m == "GET" {
					out = append(out, route{name: name, method: m, path: rt.Path})
				}
			default:
				b, ok := plainWrites[m+" "+rt.Path]
				if !ok {
					problems = append(problems, fmt.Sprintf("plain write route %s %s has no request builder in plainWrites", m, rt.Path))
					continue
				}
				out = append(out, route{name: name, method: m, path: rt.Path, write: true, plain: b})
			}
		}
	}
	return out, problems
}

// targeted sends one request per user id (the login flows act on their caller whatever the
// request names: the walk shows nothing else moves).
func targeted(method, path, ctype string, body func(id int64) string) func(v *values) []request {
	return func(v *values) []request {
		var out []request
		for _, id := range v.ids["id_user"] {
			q := url.Values{"id_user": {fmt.Sprint(id)}}
			out = append(out, request{method: method, path: path, query: q, body: []byte(body(id)), contentType: ctype})
		}
		return out
	}
}

const form = "application/x-www-form-urlencoded"

var plainWrites = map[string]func(v *values) []request{
	"POST /api/user/login/2fa": targeted("POST", "/api/user/login/2fa", "application/json", func(id int64) string {
		return fmt.Sprintf(`{"otp_code": "000000", "id_user": %d}`, id)
	}),
	"POST /api/user/login/setup_2fa": targeted("POST", "/api/user/login/setup_2fa", "application/json", func(id int64) string {
		return fmt.Sprintf(`{"otp_secret": "JBSWY3DPEHPK3PXP", "otp_code": "000000", "with_email_enabled": false, "id_user": %d}`, id)
	}),
	"POST /api/user/login/change_password": targeted("POST", "/api/user/login/change_password", "application/json", func(id int64) string {
		return fmt.Sprintf(`{"new_password": "Matrix#Passw0rd1", "confirm_password": "Matrix#Passw0rd1", "id_user": %d}`, id)
	}),
	// Without the registration key: with it, anyone registers a (disabled) device by design.
	"POST /api/device/register": targeted("POST", "/api/device/register", "application/octet-stream", func(int64) string { return "not a CSR" }),
	"POST /login": targeted("POST", "/login", form, func(id int64) string {
		return url.Values{"username": {"admin"}, "password": {"wrong"}, "id_user": {fmt.Sprint(id)}}.Encode()
	}),
	"POST /login_validate_2fa": targeted("POST", "/login_validate_2fa", form, func(int64) string { return "otp_code=000000" }),
	"POST /login_setup_2fa": targeted("POST", "/login_setup_2fa", form, func(int64) string {
		return "otp_secret=JBSWY3DPEHPK3PXP&otp_code=000000"
	}),
	"POST /login_change_password": targeted("POST", "/login_change_password", form, func(int64) string {
		return "new_password=Matrix%23Passw0rd1&confirm_password=Matrix%23Passw0rd1"
	}),
	// A wrong secret for every service key: no credential, no token, nothing written.
	"POST /api/service/token": targeted("POST", "/api/service/token", form, func(int64) string {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {"VideoRehabService"}, "client_secret": {"wrong"}}.Encode()
	}),
	"POST /api/device/status": targeted("POST", "/api/device/status", "application/json", func(id int64) string {
		return fmt.Sprintf(`{"status": {"battery": 10}, "timestamp": 1700000000, "id_device": %d}`, id)
	}),
}

func init() {
	for k, b := range fileTransferWrites {
		plainWrites[k] = b
	}
}

// lastWrites run after every other write: they may change the caller's own credentials.
var lastWrites = []string{"change_password", "/login"}

func isLast(name string) bool {
	for _, s := range lastWrites {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

type counts struct {
	mu                         sync.Mutex
	writes, reads, writeRoutes int
	readRoutes, accountsWalked int
	perAccount                 []string
}

// TestAccessMatrix walks every route × every account × targets in and out of the account's
// scope, from a fresh clone per account (see the package documentation).
func TestAccessMatrix(t *testing.T) {
	c := &counts{}
	t.Run("account", func(t *testing.T) {
		for _, a := range accounts {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				walk(t, a, c)
			})
		}
	})
	sort.Strings(c.perAccount)
	for _, l := range c.perAccount {
		t.Log(l)
	}
	t.Logf("write matrix: %d (route × account × target) cases over %d write routes × %d accounts", c.writes, c.writeRoutes, c.accountsWalked)
	t.Logf("read matrix: %d (route × account × target) cases over %d read routes × %d accounts", c.reads, c.readRoutes, c.accountsWalked)
}

func walk(t *testing.T, a account, c *counts) {
	ctx := context.Background()
	s := newSite(t)
	svcs := map[string][]string{}
	for name, info := range s.srv.GRPCServices() {
		for _, m := range info.Methods {
			svcs[name] = append(svcs[name], m.Name)
		}
	}
	routes, problems := gatewayRoutes(svcs)
	plain, p2 := plainRoutes(s.srv.PlainRoutes())
	routes = append(routes, plain...)
	problems = append(problems, p2...)
	v, err := newValues(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	v.assetToken = s.assetTokenFor(ctx, a)
	sc, err := freezeScope(ctx, s.db, a)
	if err != nil {
		t.Fatal(err)
	}
	fp, p3, err := newFingerprinter(ctx, s.db, sc, a)
	if err != nil {
		t.Fatal(err)
	}
	problems = append(problems, p3...)
	oos, err := freezeOutOfScope(ctx, s.db, sc)
	if err != nil {
		t.Fatal(err)
	}

	// Build every request first, so a route the walk cannot build fails before anything runs.
	var reads, writes, last []request
	readRoutes, writeRoutes := 0, 0
	for _, r := range routes {
		switch {
		case r.plain != nil:
			writeRoutes++
			for _, q := range r.plain(v) {
				q.route = r.name
				if isLast(r.name) {
					last = append(last, q)
				} else {
					writes = append(writes, q)
				}
			}
		case !r.write && r.input != nil:
			readRoutes++
			rs, pr := readRequests(r, v)
			problems = append(problems, pr...)
			reads = append(reads, rs...)
		case !r.write:
			readRoutes++
			reads = append(reads, request{route: r.name, method: "GET", path: r.path})
			for _, f := range []string{"id_user", "id_participant", "id_device", "id_site", "id_project"} {
				for _, id := range sample(v.ids[f], 6) {
					reads = append(reads, request{route: r.name, method: "GET", path: r.path, query: url.Values{f: {fmt.Sprint(id)}}})
				}
			}
		default:
			writeRoutes++
			ts, pw := writeTemplates(r, v)
			problems = append(problems, pw...)
			for _, tp := range ts {
				for _, as := range tp.assignments() {
					writes = append(writes, tp.materialize(as, v))
				}
			}
		}
	}
	for f := range v.missing {
		problems = append(problems, fmt.Sprintf("id field %s maps to no table (add it to idTables)", f))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Fatalf("the walk cannot build every request:\n  %s", strings.Join(problems, "\n  "))
	}
	// Creates and updates before deletes, so that the deletes of the account's own scope do not
	// empty it before the other writes ran.
	sort.SliceStable(writes, func(i, j int) bool { return writes[i].method != "DELETE" && writes[j].method == "DELETE" })
	writes = append(writes, last...)

	serverError := func(r request, ans answer) {
		// 500 only as an integrity refusal; 501 is an endpoint OpenTera answers so too.
		if ans.status >= 500 && ans.status != 501 && ans.reason != "ERROR_REASON_INTEGRITY" {
			t.Errorf("%s as %s: %d %s %s", r, a.name, ans.status, ans.reason, trim(ans.body))
		}
	}
	start := time.Now()
	for _, r := range reads {
		ans := s.send(a, r)
		serverError(r, ans)
		if sc.super || ans.status != 200 {
			continue
		}
		if l := oos.leaks(ans.body); len(l) > 0 {
			t.Errorf("READ LEAK %s as %s: %s", r, a.name, strings.Join(l, ", "))
		}
	}
	readTime := time.Since(start)
	start = time.Now()
	takes := 0
	before, err := fp.take(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	lsn := walPosition(ctx, t, s.db)
	trace := os.Getenv("MATRIX_TRACE")
	for _, r := range writes {
		ans := s.send(a, r)
		serverError(r, ans)
		if trace != "" && strings.Contains(r.String(), trace) {
			t.Logf("%s as %s: %d %s", r, a.name, ans.status, trim(ans.body))
		}
		if sc.super {
			continue
		}
		now := walPosition(ctx, t, s.db)
		if now == lsn {
			continue // nothing was written anywhere
		}
		lsn = now
		takes++
		after, err := fp.take(ctx, s.db)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(before, after); len(d) > 0 {
			t.Errorf("WRITE LEAK %s as %s: %d %s\n    %s", r, a.name, ans.status, trim(ans.body), strings.Join(d, "\n    "))
			before = after
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes += len(writes)
	c.reads += len(reads)
	c.writeRoutes, c.readRoutes = writeRoutes, readRoutes
	c.accountsWalked++
	c.perAccount = append(c.perAccount, fmt.Sprintf("%-20s %5d writes (%d fingerprints, %v), %5d reads (%v)", a.name, len(writes), takes,
		time.Since(start).Round(time.Millisecond), len(reads), readTime.Round(time.Millisecond)))
}

func walPosition(ctx context.Context, t *testing.T, db *pgxpool.Pool) string {
	var lsn string
	if err := db.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	return lsn
}

func trim(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	var msg string
	if json.Unmarshal(b, &msg) == nil {
		return fmt.Sprintf("%q", msg)
	}
	return strings.TrimSpace(s)
}
