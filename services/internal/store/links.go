package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// The link endpoints (devices/sites, sessiontypes/projects, …) list, replace, add and remove
// rows of one association table each. They share the functions below, parametrised by the
// Link; the caller's access comes in as fragments joined in the same statement.

// sideTables names the table and the name column of each kind of object a link can join.
var sideTables = map[string][2]string{
	"id_device":       {"t_devices", "device_name"},
	"id_site":         {"t_sites", "site_name"},
	"id_project":      {"t_projects", "project_name"},
	"id_participant":  {"t_participants", "participant_name"},
	"id_session_type": {"t_sessions_types", "session_type_name"},
	"id_service":      {"t_services", "service_name"},
	"id_test_type":    {"t_tests_types", "test_type_name"},
}

// LinkRow is a link, or an unlinked counterpart (nil ID and nil selector side), with the names
// of both sides.
type LinkRow struct {
	ID    *int32  `db:"id_link"`
	A     *int32  `db:"a"`
	B     *int32  `db:"b"`
	AName *string `db:"a_name"`
	BName *string `db:"b_name"`
	// With LinkQuery.Sites: the site of B (a project).
	Site     *int32  `db:"id_site"`
	SiteName *string `db:"site_name"`
	// With LinkQuery.Available: A (a device) is used by none of those participants.
	Available *bool `db:"available"`
	// Set by AddLinks: the link did not exist (live) before.
	New bool `db:"-"`
}

// LinkQuery selects links: those whose A is in A and B in B (an empty fragment does not
// filter), plus, when Others is set, a transient row for each id of Others not among them, on
// the side OthersOnA says.
type LinkQuery struct {
	A, B      access.Fragment
	Others    access.Fragment
	OthersOnA bool
	// ByA sorts by A's name (else B's), then by link id.
	ByA bool
	// Sites adds B's site (B is a project).
	Sites bool
	// Available, when set, computes LinkRow.Available against these participants.
	Available access.Fragment
}

// OneID is the fragment of a single id, under its own argument name.
func OneID(name string, id int32) access.Fragment {
	return access.Fragment{SQL: "SELECT @" + name + "::integer AS id", Args: pgx.NamedArgs{name: id}}
}

// Fragment is a custom id set (its SQL returns one integer column id).
func Fragment(sql string, args pgx.NamedArgs) access.Fragment {
	return access.Fragment{SQL: sql, Args: args}
}

func merge(fs ...access.Fragment) pgx.NamedArgs {
	out := pgx.NamedArgs{}
	for _, f := range fs {
		out = f.With(out)
	}
	return out
}

func in(col string, f access.Fragment) string {
	if f.SQL == "" {
		return ""
	}
	return " AND " + col + " IN (" + f.SQL + ")"
}

// ListLinks returns the links q selects.
func ListLinks(ctx context.Context, db DB, l Link, q LinkQuery) ([]LinkRow, error) {
	ta, tb := sideTables[l.A], sideTables[l.B]
	sql := fmt.Sprintf(`WITH linked AS (SELECT x.%[2]s AS id_link, x.%[3]s AS a, x.%[4]s AS b FROM core.%[1]s x
		WHERE x.deleted_at IS NULL%[5]s%[6]s)`, l.Name, l.PK, l.A, l.B, in("x."+l.A, q.A), in("x."+l.B, q.B))
	rows := "SELECT * FROM linked"
	if q.Others.SQL != "" {
		if q.OthersOnA {
			rows += " UNION ALL SELECT NULL::integer, o.id, NULL::integer FROM (" + q.Others.SQL + ") o WHERE o.id NOT IN (SELECT a FROM linked)"
		} else {
			rows += " UNION ALL SELECT NULL::integer, NULL::integer, o.id FROM (" + q.Others.SQL + ") o WHERE o.id NOT IN (SELECT b FROM linked)"
		}
	}
	site := "NULL::integer AS id_site, NULL::text AS site_name"
	if q.Sites {
		site = "tb.id_site, (SELECT s.site_name FROM core.t_sites s WHERE s.id_site = tb.id_site) AS site_name"
	}
	avail := "NULL::boolean AS available"
	if q.Available.SQL != "" {
		avail = `(r.a IS NOT NULL AND NOT EXISTS (SELECT 1 FROM core.t_devices_participants dp WHERE dp.id_device = r.a
			AND dp.deleted_at IS NULL AND dp.id_participant IN (` + q.Available.SQL + `))) AS available`
	}
	// Code point order, as OpenTera's Python sort.
	order := "tb." + tb[1] + ` COLLATE "C"`
	if q.ByA {
		order = "ta." + ta[1] + ` COLLATE "C"`
	}
	sql += fmt.Sprintf(`, r AS (%s)
		SELECT r.id_link, r.a, r.b, ta.%s AS a_name, tb.%s AS b_name, %s, %s
		  FROM r LEFT JOIN core.%s ta ON ta.%s = r.a LEFT JOIN core.%s tb ON tb.%s = r.b
		 ORDER BY %s, r.id_link, r.a, r.b`, rows, ta[1], tb[1], site, avail, ta[0], l.A, tb[0], l.B, order)
	return list[LinkRow](ctx, db, "list "+l.Name, sql, access.Scope{}, merge(q.A, q.B, q.Others, q.Available))
}

// LinkByID returns the two sides of a live link; ErrNotFound when absent.
func LinkByID(ctx context.Context, db DB, l Link, id int32) (a, b int32, err error) {
	err = db.QueryRow(ctx, fmt.Sprintf("SELECT %s, %s FROM core.%s WHERE %s = $1 AND deleted_at IS NULL", l.A, l.B, l.Name, l.PK), id).Scan(&a, &b)
	return a, b, wrap("link "+l.Name, err)
}

// DeleteLinkByID soft-deletes a live link (its cascades and refusals run in the database).
func DeleteLinkByID(ctx context.Context, db DB, l Link, id int32) error {
	tag, err := db.Exec(ctx, fmt.Sprintf("UPDATE core.%s SET deleted_at = now() WHERE %s = $1 AND deleted_at IS NULL", l.Name, l.PK), id)
	return affected(tag.RowsAffected(), wrap("delete "+l.Name, err))
}

// LinkedIDs returns the other side of owner's live links (owner on side A when onA).
func LinkedIDs(ctx context.Context, db DB, l Link, onA bool, owner int32) ([]int32, error) {
	own, other := l.A, l.B
	if !onA {
		own, other = l.B, l.A
	}
	rows, err := db.Query(ctx, fmt.Sprintf("SELECT %s FROM core.%s WHERE %s = $1 AND deleted_at IS NULL ORDER BY 1", other, l.Name, own), owner)
	if err != nil {
		return nil, wrap("links "+l.Name, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	return out, wrap("links "+l.Name, err)
}

// ReplaceLinkSet makes owner's links (owner on side A when onA) to the removable set equal to
// keep ∩ removable (an empty removable fragment: every link) and adds every id of keep; links
// outside the removable set stay. Removals run first, so link prerequisites see the final set.
// It returns the links it added or restored.
func ReplaceLinkSet(ctx context.Context, db DB, l Link, onA bool, owner int32, keep []int32, removable access.Fragment) ([]LinkRow, error) {
	own, other := l.A, l.B
	if !onA {
		own, other = l.B, l.A
	}
	if keep == nil {
		keep = []int32{}
	}
	if _, err := db.Exec(ctx, `UPDATE core.`+l.Name+` SET deleted_at = now() WHERE `+own+` = @owner AND deleted_at IS NULL
		AND NOT (`+other+` = ANY(@keep))`+in(other, removable), removable.With(pgx.NamedArgs{"owner": owner, "keep": keep})); err != nil {
		return nil, wrap("replace "+l.Name, err)
	}
	pairs := make([][2]int32, 0, len(keep))
	for _, k := range keep {
		if onA {
			pairs = append(pairs, [2]int32{owner, k})
		} else {
			pairs = append(pairs, [2]int32{k, owner})
		}
	}
	rows, err := AddLinks(ctx, db, l, pairs)
	added := rows[:0]
	for _, r := range rows {
		if r.New {
			added = append(added, r)
		}
	}
	return added, err
}

// AddLinks soft-inserts each (a, b) pair and returns every link with its id, New when it was
// not live before (a live link is left untouched: no write, no event). Prerequisites refused by
// the schema come back as *IntegrityError.
func AddLinks(ctx context.Context, db DB, l Link, pairs [][2]int32) ([]LinkRow, error) {
	out := make([]LinkRow, 0, len(pairs))
	for _, p := range pairs {
		r := LinkRow{A: &p[0], B: &p[1]}
		var id int32
		err := db.QueryRow(ctx, fmt.Sprintf("SELECT %s FROM core.%s WHERE %s = $1 AND %s = $2 AND deleted_at IS NULL", l.PK, l.Name, l.A, l.B),
			p[0], p[1]).Scan(&id)
		if err == pgx.ErrNoRows {
			r.New = true
			id, err = InsertLink(ctx, db, l, p[0], p[1])
		}
		if err != nil {
			return out, wrap("add "+l.Name, err)
		}
		r.ID = &id
		out = append(out, r)
	}
	return out, nil
}

// LinkNames sets the names of both sides of the rows (for the answers of a write).
func LinkNames(ctx context.Context, db DB, l Link, rows []LinkRow) error {
	ta, tb := sideTables[l.A], sideTables[l.B]
	for i := range rows {
		err := db.QueryRow(ctx, fmt.Sprintf("SELECT (SELECT %s FROM core.%s WHERE %s = $1), (SELECT %s FROM core.%s WHERE %s = $2)",
			ta[1], ta[0], l.A, tb[1], tb[0], l.B), rows[i].A, rows[i].B).Scan(&rows[i].AName, &rows[i].BName)
		if err != nil {
			return wrap("link names", err)
		}
	}
	return nil
}
