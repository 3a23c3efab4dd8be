package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ServiceLinks is one kind of link between services and another object (projects or sites),
// with its static statements: one template, instantiated once per kind at start.
type ServiceLinks struct {
	Link
	list, remove, add, del string
}

var (
	// ServiceProjectLinks are written by admins of the project's site, for services enabled on
	// that site.
	ServiceProjectLinks = newServiceLinks(ServiceProjects, map[string]string{
		"{otab}": "t_projects", "{oname}": "project_name", "{acc}": "acc_projects",
		"{wscope}": `IN (SELECT p.id_project FROM core.t_projects p WHERE p.deleted_at IS NULL
                  AND p.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, true)))`,
		"{ok}": `EXISTS (SELECT 1 FROM core.t_services_sites ss JOIN core.t_services s ON s.id_service = ss.id_service AND s.deleted_at IS NULL
                  WHERE ss.id_service = @id_service AND ss.id_site = o.id_site AND ss.deleted_at IS NULL)`,
		// Candidates of a project: the services enabled on its site.
		"{cand}": `EXISTS (SELECT 1 FROM core.t_services_sites ss WHERE ss.id_service = sv.id_service AND ss.id_site = o.id_site
                   AND ss.deleted_at IS NULL)`,
	})
	// ServiceSiteLinks are written by superadmins.
	ServiceSiteLinks = newServiceLinks(ServiceSites, map[string]string{
		"{otab}": "t_sites", "{oname}": "site_name", "{acc}": "acc_sites",
		"{wscope}": `IS NOT NULL AND core.is_superadmin(@acc_kind::text, @acc_id::integer)`,
		"{ok}":     "true",
		// Candidates of a site: every service for a superadmin, else the services enabled on a
		// site the caller sees (OpenTera's query_services_sites_for_site).
		"{cand}": `core.is_superadmin(@acc_kind::text, @acc_id::integer) OR EXISTS (SELECT 1 FROM core.t_services_sites ss
                   WHERE ss.id_service = sv.id_service AND ss.deleted_at IS NULL
                     AND ss.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))`,
	})
)

func newServiceLinks(l Link, parts map[string]string) *ServiceLinks {
	pairs := []string{"{link}", l.Name, "{pk}", l.PK, "{other}", l.B}
	for k, v := range parts {
		pairs = append(pairs, k, v)
	}
	r := strings.NewReplacer(pairs...)
	return &ServiceLinks{Link: l, list: r.Replace(listServiceLinksSQL), remove: r.Replace(removeServiceLinksSQL),
		add: r.Replace(addServiceLinkSQL), del: r.Replace(deleteServiceLinkSQL)}
}

// ServiceLinkRow is a link (IDLink nil for a candidate: a counterpart not linked yet) with the
// names of both sides and the site of the other side (a site is its own site).
type ServiceLinkRow struct {
	IDLink        *int32 `db:"id_link"`
	IDService     int32  `db:"id_service"`
	IDOther       int32  `db:"id_other"`
	ServiceName   string `db:"service_name"`
	ServiceKey    string `db:"service_key"`
	ServiceSystem bool   `db:"service_system"`
	OtherName     string `db:"other_name"`
	IDSite        int32  `db:"id_site"`
	SiteName      string `db:"site_name"`
}

// ServiceLinkFilter selects links whose other side is in the scope; nil fields do not filter.
type ServiceLinkFilter struct {
	// IDService keeps one service's links (when the scope sees the service).
	IDService *int32
	// IDOther keeps one project's or site's links, of services the scope sees.
	IDOther *int32
	// IDServices keeps the links of these services, whether or not the scope sees them.
	IDServices []int32
	// Candidates adds the unlinked counterparts: for IDService, the other side in the scope;
	// for IDOther, the services of the kind's candidate rule.
	Candidates bool
}

const listServiceLinksSQL = `
SELECT * FROM (
SELECT l.{pk} AS id_link, sv.id_service, o.{other} AS id_other, sv.service_name, sv.service_key, sv.service_system,
       o.{oname} AS other_name, st.id_site, st.site_name
  FROM core.{link} l
  JOIN core.t_services sv ON sv.id_service = l.id_service AND sv.deleted_at IS NULL AND sv.service_key <> 'OpenTeraServer'
  JOIN core.{otab} o ON o.{other} = l.{other} AND o.deleted_at IS NULL
  JOIN core.t_sites st ON st.id_site = o.id_site
 WHERE l.deleted_at IS NULL
   AND o.{other} IN (SELECT id FROM core.{acc}(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_service::integer IS NULL OR l.id_service = @id_service)
   AND (@id_other::integer IS NULL OR l.{other} = @id_other)
   AND (l.id_service = ANY(@id_services::integer[]) OR @id_services::integer[] IS NULL
        AND l.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
UNION ALL
SELECT NULL, sv.id_service, o.{other}, sv.service_name, sv.service_key, sv.service_system, o.{oname}, st.id_site, st.site_name
  FROM core.t_services sv, core.{otab} o JOIN core.t_sites st ON st.id_site = o.id_site
 WHERE @candidates::boolean AND sv.deleted_at IS NULL AND sv.service_key <> 'OpenTeraServer' AND o.deleted_at IS NULL
   AND o.{other} IN (SELECT id FROM core.{acc}(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND CASE WHEN @id_service::integer IS NOT NULL
       THEN sv.id_service = @id_service
            AND sv.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
            AND NOT EXISTS (SELECT 1 FROM core.{link} x WHERE x.id_service = sv.id_service AND x.{other} = o.{other} AND x.deleted_at IS NULL)
       ELSE o.{other} = @id_other AND ({cand})
            AND (sv.id_service NOT IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
                 OR NOT EXISTS (SELECT 1 FROM core.{link} x WHERE x.id_service = sv.id_service AND x.{other} = o.{other}
                                   AND x.deleted_at IS NULL))
       END
) u ORDER BY CASE WHEN @id_service::integer IS NULL THEN u.id_service ELSE u.id_other END`

// ListServiceLinks returns the links of a kind that match f: by service when f.IDService is
// set (ordered by the other side), else by service id.
func ListServiceLinks(ctx context.Context, db DB, scope access.Scope, k *ServiceLinks, f ServiceLinkFilter) ([]ServiceLinkRow, error) {
	return list[ServiceLinkRow](ctx, db, "list "+k.Name, k.list, scope, pgx.NamedArgs{"id_service": f.IDService,
		"id_other": f.IDOther, "id_services": f.IDServices, "candidates": f.Candidates})
}

const removeServiceLinksSQL = `
WITH owner AS (
  SELECT 1 FROM core.{otab} o
   WHERE NOT @by_service::boolean AND o.{other} = @owner AND o.deleted_at IS NULL AND o.{other} {wscope}),
del AS (
  UPDATE core.{link} l SET deleted_at = now()
   WHERE l.deleted_at IS NULL AND l.{other} {wscope}
     AND (@by_service::boolean OR EXISTS (SELECT 1 FROM owner))
     AND CASE WHEN @by_service::boolean THEN l.id_service = @owner AND NOT (l.{other} = ANY(@keep::integer[]))
              ELSE l.{other} = @owner AND NOT (l.id_service = ANY(@keep::integer[])) END
  RETURNING 1)
SELECT @by_service::boolean OR EXISTS (SELECT 1 FROM owner)`

// RemoveServiceLinks soft-deletes, within the write scope, the links of one service
// (byService) or of one project or site (owner) whose counterpart is not in keep. An owner
// project or site outside the write scope is ErrNotFound.
func RemoveServiceLinks(ctx context.Context, db DB, scope access.Scope, k *ServiceLinks, byService bool, owner int32, keep []int32) error {
	var ok bool
	err := db.QueryRow(ctx, k.remove, scope.Args(pgx.NamedArgs{"by_service": byService, "owner": owner, "keep": keep})).Scan(&ok)
	if err != nil {
		return wrap("remove "+k.Name, err)
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

const addServiceLinkSQL = `
WITH cur AS (
  SELECT o.{other} AS id_other, {ok} AS ok,
         (SELECT l.{pk} FROM core.{link} l WHERE l.id_service = @id_service AND l.{other} = o.{other} AND l.deleted_at IS NULL) AS live
    FROM core.{otab} o WHERE o.{other} = @id_other AND o.deleted_at IS NULL AND o.{other} {wscope}),
ins AS (
  INSERT INTO core.{link} AS l (id_service, {other}) SELECT @id_service, cur.id_other FROM cur WHERE cur.ok AND cur.live IS NULL
  ON CONFLICT (id_service, {other}) DO UPDATE SET deleted_at = NULL
  RETURNING l.{pk})
SELECT CASE WHEN cur.ok THEN coalesce((SELECT {pk} FROM ins), cur.live) END, cur.live IS NOT NULL FROM cur`

// AddServiceLink soft-inserts the link (service, other) within the write scope (a removed link
// comes back with its id) and says whether it was live already. The other side outside the
// scope is ErrNotFound; a service not enabled on a project's site ErrRefused.
func AddServiceLink(ctx context.Context, db DB, scope access.Scope, k *ServiceLinks, service, other int32) (int32, bool, error) {
	var id *int32
	var existed bool
	err := db.QueryRow(ctx, k.add, scope.Args(pgx.NamedArgs{"id_service": service, "id_other": other})).Scan(&id, &existed)
	if err != nil {
		return 0, false, wrap("add "+k.Name, err)
	}
	if id == nil {
		return 0, false, ErrRefused
	}
	return *id, existed, nil
}

const deleteServiceLinkSQL = `
WITH cur AS (SELECT {pk}, {other} FROM core.{link} WHERE {pk} = @id AND deleted_at IS NULL),
del AS (
  UPDATE core.{link} l SET deleted_at = now() FROM cur WHERE l.{pk} = cur.{pk} AND cur.{other} {wscope}
  RETURNING l.{pk})
SELECT (SELECT {pk} FROM del) FROM cur`

// DeleteServiceLink soft-deletes one link by id: ErrNotFound when there is none, ErrRefused
// outside the write scope. The schema cascades and refuses links in use.
func DeleteServiceLink(ctx context.Context, db DB, scope access.Scope, k *ServiceLinks, id int32) error {
	return guardedWrite(ctx, db, "delete "+k.Name, k.del, scope, pgx.NamedArgs{"id": id})
}
