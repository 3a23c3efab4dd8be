package core

import (
	"context"
	"math"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/services/projects and /api/user/services/sites: links between services and
// projects or sites, both served by one implementation parametrised by linkSpec.

type linkSpec struct {
	table    string // core.t_services_projects
	linkID   string // id_service_project
	other    string // id_project
	otherTab string // core.t_projects
	name     string // project_name
	object   access.Object
}

var (
	projectLinks = linkSpec{"core.t_services_projects", "id_service_project", "id_project", "core.t_projects", "project_name", access.Projects}
	siteLinks    = linkSpec{"core.t_services_sites", "id_service_site", "id_site", "core.t_sites", "site_name", access.Sites}
)

// link is one row of either endpoint.
type link struct {
	id              *int32
	service, other  int32
	svcName, svcKey string
	system          bool
	otherName       string
	site            int32
	siteName        string
	roles           *structpb.ListValue
}

// queryLinks lists links of one service (byService) or of one project/site, with, when
// withOthers, the unlinked counterparts the caller can see.
func (s *Service) queryLinks(ctx context.Context, m me, sp linkSpec, byService bool, id int32, withOthers bool) ([]*link, error) {
	sf := m.acc.Services()
	of := m.acc.IDs(sp.object)
	args := of.With(sf.With(pgx.NamedArgs{"id": id}))
	// The site of the other side (o.id_site: a site is its own site).
	siteOf := "o.id_site"
	var q string
	cols := func(linkID string) string {
		return linkID + `, sv.id_service, o.` + sp.other + `, sv.service_name, sv.service_key, sv.service_system, o.` + sp.name + `, ` + siteOf + `, st.site_name`
	}
	from := `FROM core.t_services sv, ` + sp.otherTab + ` o JOIN core.t_sites st ON st.id_site = ` + siteOf
	linked := `EXISTS (SELECT 1 FROM ` + sp.table + ` l WHERE l.id_service = sv.id_service AND l.` + sp.other + ` = o.` + sp.other + ` AND l.deleted_at IS NULL)`
	live := `sv.deleted_at IS NULL AND o.deleted_at IS NULL AND sv.service_key <> 'OpenTeraServer'`
	if byService {
		q = `SELECT ` + cols("l."+sp.linkID) + ` ` + from + `
		  JOIN ` + sp.table + ` l ON l.` + sp.other + ` = o.` + sp.other + ` AND l.deleted_at IS NULL
		 WHERE ` + live + ` AND l.id_service = sv.id_service AND sv.id_service = @id
		   AND sv.id_service IN (` + sf.SQL + `) AND o.` + sp.other + ` IN (` + of.SQL + `)`
		if withOthers {
			q += ` UNION ALL SELECT ` + cols("NULL::integer") + ` ` + from + `
			 WHERE ` + live + ` AND sv.id_service = @id AND NOT ` + linked + `
			   AND sv.id_service IN (` + sf.SQL + `) AND o.` + sp.other + ` IN (` + of.SQL + `)`
		}
		q += ` ORDER BY 3`
	} else {
		q = `SELECT ` + cols("l."+sp.linkID) + ` ` + from + `
		  JOIN ` + sp.table + ` l ON l.` + sp.other + ` = o.` + sp.other + ` AND l.deleted_at IS NULL
		 WHERE ` + live + ` AND l.id_service = sv.id_service AND o.` + sp.other + ` = @id AND o.` + sp.other + ` IN (` + of.SQL + `)
		   AND sv.id_service IN (` + sf.SQL + `)`
		if withOthers {
			// Candidates: for a project, the services enabled on its site; for a site, the
			// services enabled on a site the caller sees (every service for a superadmin), as
			// OpenTera's query_services_sites_for_site.
			cand := "true"
			if !m.superadmin {
				vs := m.acc.Sites()
				args = vs.With(args)
				cand = `EXISTS (SELECT 1 FROM core.t_services_sites ss WHERE ss.id_service = sv.id_service AND ss.deleted_at IS NULL
				         AND ss.id_site IN (` + vs.SQL + `))`
			}
			if sp.object == access.Projects {
				cand = `EXISTS (SELECT 1 FROM core.t_services_sites ss WHERE ss.id_service = sv.id_service AND ss.id_site = o.id_site AND ss.deleted_at IS NULL)`
			}
			q += ` UNION ALL SELECT ` + cols("NULL::integer") + ` ` + from + `
			 WHERE ` + live + ` AND o.` + sp.other + ` = @id AND (NOT ` + linked + ` OR sv.id_service NOT IN (` + sf.SQL + `)) AND ` + cand + `
			   AND o.` + sp.other + ` IN (` + of.SQL + `)`
		}
		q += ` ORDER BY 2`
	}
	rows, err := s.db.Query(ctx, q, args)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*link, error) {
		l := &link{}
		return l, row.Scan(&l.id, &l.service, &l.other, &l.svcName, &l.svcKey, &l.system, &l.otherName, &l.site, &l.siteName)
	})
}

// addRoles sets each link's service_roles (roles of its service, without id_service).
func (s *Service) addRoles(ctx context.Context, links []*link) error {
	if len(links) == 0 {
		return nil
	}
	ids := []int32{}
	for _, l := range links {
		ids = append(ids, l.service)
	}
	roles, err := queryRoles(ctx, s.db, "r.id_service = ANY(@ids)", pgx.NamedArgs{"ids": ids}, false)
	if err != nil {
		return err
	}
	by := map[int32][]*structpb.Value{}
	for _, r := range roles {
		v, err := messageValue(r)
		if err != nil {
			return err
		}
		delete(v.GetStructValue().Fields, "id_service")
		by[r.IdService] = append(by[r.IdService], v)
	}
	for _, l := range links {
		l.roles = &structpb.ListValue{Values: by[l.service]}
	}
	return nil
}

// linkIDs reads [{key: n}, …].
func linkIDs(lv *structpb.ListValue, key string) ([]int32, error) {
	out := []int32{}
	for _, v := range lv.GetValues() {
		n, ok := intField(v.GetStructValue(), key)
		if !ok {
			return nil, apierr.InvalidArgument("Badly formatted request: " + key)
		}
		out = append(out, n)
	}
	return out, nil
}

func intField(st *structpb.Struct, key string) (int32, bool) {
	if st == nil {
		return 0, false
	}
	v, ok := st.Fields[key]
	if !ok {
		return 0, false
	}
	n, ok := v.GetKind().(*structpb.Value_NumberValue)
	if !ok || n.NumberValue != math.Trunc(n.NumberValue) || n.NumberValue < math.MinInt32 || n.NumberValue > math.MaxInt32 {
		return 0, false
	}
	return int32(n.NumberValue), true
}

type pair struct{ service, other int32 }

// linkItems reads {id_service | service_uuid, <other>} or a list of them; uuids are resolved
// in the transaction.
func linkItems(ctx context.Context, tx pgx.Tx, v *structpb.Value, other string) ([]pair, error) {
	var items []*structpb.Value
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		items = []*structpb.Value{v}
	case *structpb.Value_ListValue:
		items = k.ListValue.Values
	default:
		return nil, apierr.InvalidArgument("Badly formatted request")
	}
	out := []pair{}
	for _, it := range items {
		st := it.GetStructValue()
		o, ok := intField(st, other)
		if !ok {
			return nil, apierr.InvalidArgument("Badly formatted request: " + other)
		}
		svc, ok := intField(st, "id_service")
		if u, has := st.GetFields()["service_uuid"]; has {
			err := tx.QueryRow(ctx, "SELECT id_service FROM core.t_services WHERE service_uuid = $1 AND deleted_at IS NULL", u.GetStringValue()).Scan(&svc)
			if err == pgx.ErrNoRows {
				return nil, apierr.InvalidArgument("Invalid service_uuid")
			} else if err != nil {
				return nil, err
			}
			ok = true
		}
		if !ok {
			return nil, apierr.InvalidArgument("Badly formatted request: id_service")
		}
		out = append(out, pair{svc, o})
	}
	return out, nil
}

// writeLinks removes (soft) the links of the replaced set not kept, then adds the given pairs
// (soft-insert: a removed link comes back with its id). It returns the links written (for a
// replacement, only the new ones). remove is "<col> = @owner AND <other col> <> ALL(@keep)" or "".
func (s *Service) writeLinks(ctx context.Context, tx pgx.Tx, sp linkSpec, remove string, args pgx.NamedArgs, add []pair) ([]*link, error) {
	onlyNew := remove != "" // replacing a set answers only the links it added, as OpenTera
	if remove != "" {
		if _, err := tx.Exec(ctx, `UPDATE `+sp.table+` SET deleted_at = now() WHERE deleted_at IS NULL AND `+remove, args); err != nil {
			return nil, err
		}
	}
	out := []*link{}
	for _, p := range add {
		var id int32
		var existed bool
		err := tx.QueryRow(ctx, `SELECT `+sp.linkID+`, deleted_at IS NULL FROM `+sp.table+` WHERE id_service = $1 AND `+sp.other+` = $2`,
			p.service, p.other).Scan(&id, &existed)
		if err != nil && err != pgx.ErrNoRows {
			return nil, err
		}
		if err == nil && existed {
			if !onlyNew {
				out = append(out, &link{id: &id, service: p.service, other: p.other})
			}
			continue
		}
		err = tx.QueryRow(ctx, `INSERT INTO `+sp.table+` AS l (id_service, `+sp.other+`) VALUES ($1, $2)
			ON CONFLICT (id_service, `+sp.other+`) DO UPDATE SET deleted_at = NULL RETURNING `+sp.linkID, p.service, p.other).Scan(&id)
		if err != nil {
			return nil, err
		}
		out = append(out, &link{id: &id, service: p.service, other: p.other})
	}
	return out, nil
}

// ---- /api/user/services/projects

type serviceProjects struct {
	*Service
	corev1.UnimplementedServiceProjectServiceServer
}

// getLinks answers a GET on a service link endpoint: by the owner (site or project) when given,
// else by the service (OpenTera's selector order), optionally with the service roles.
func (s *Service) getLinks(ctx context.Context, sp linkSpec, idOwner, idService int32, withServices, withOwners, withRoles bool) ([]*link, error) {
	m := caller(ctx)
	var links []*link
	var err error
	switch {
	case idOwner != 0:
		links, err = s.queryLinks(ctx, m, sp, false, idOwner, withServices)
	case idService != 0:
		links, err = s.queryLinks(ctx, m, sp, true, idService, withOwners)
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	if err == nil && withRoles {
		err = s.addRoles(ctx, links)
	}
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return links, nil
}

func (l *link) serviceProject(list, withSites bool) *corev1.ServiceProject {
	out := &corev1.ServiceProject{IdService: l.service, IdProject: l.other, ServiceRoles: l.roles}
	if l.id != nil {
		out.IdServiceProject = wrapperspb.Int32(*l.id)
	}
	if !list && l.svcKey != "" {
		out.ServiceName, out.ServiceKey, out.ServiceSystem, out.ProjectName = &l.svcName, &l.svcKey, &l.system, &l.otherName
		if withSites {
			out.IdSite, out.SiteName = &l.site, &l.siteName
		}
	}
	return out
}

func (s *serviceProjects) GetServiceProjects(ctx context.Context, r *corev1.GetServiceProjectsRequest) (*corev1.GetServiceProjectsResponse, error) {
	links, err := s.getLinks(ctx, projectLinks, r.IdProject, r.IdService, r.WithServices, r.WithProjects, r.WithRoles)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.ServiceProject, 0, len(links))
	for _, l := range links {
		out = append(out, l.serviceProject(r.List, r.WithSites))
	}
	return &corev1.GetServiceProjectsResponse{ServiceProjects: out}, nil
}

// checkProjects refuses projects whose site the caller does not administer (403) and services
// not enabled on the project's site (403, as OpenTera).
func (s *serviceProjects) checkProjects(ctx context.Context, tx pgx.Tx, m me, pairs []pair) error {
	f := m.acc.AdminOnly().Sites()
	for _, p := range pairs {
		var admin, enabled bool
		err := tx.QueryRow(ctx, `SELECT p.id_site IN (`+f.SQL+`),
			EXISTS (SELECT 1 FROM core.t_services_sites ss JOIN core.t_services sv ON sv.id_service = ss.id_service AND sv.deleted_at IS NULL
			         WHERE ss.id_service = @svc AND ss.id_site = p.id_site AND ss.deleted_at IS NULL)
			  FROM core.t_projects p WHERE p.id_project = @project AND p.deleted_at IS NULL`,
			f.With(pgx.NamedArgs{"svc": p.service, "project": p.other})).Scan(&admin, &enabled)
		if err == pgx.ErrNoRows || (err == nil && !admin) {
			return apierr.Forbidden("Access denied")
		} else if err != nil {
			return err
		}
		if !enabled && p.service != 0 {
			return apierr.Forbidden("At least one service is not part of the allowed service for that project site")
		}
	}
	return nil
}

func (s *serviceProjects) PostServiceProjects(ctx context.Context, r *corev1.PostServiceProjectsRequest) (*corev1.PostServiceProjectsResponse, error) {
	m := caller(ctx)
	var added []*link
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		switch {
		case r.Service != nil:
			b := r.Service
			if b.IdService == nil {
				return apierr.MissingArgument("Missing id_service")
			}
			if b.Projects == nil {
				return apierr.MissingArgument("Missing projects")
			}
			if !m.superadmin {
				return apierr.Forbidden("Forbidden")
			}
			keep, err := linkIDs(b.Projects, "id_project")
			if err != nil {
				return err
			}
			pairs := make([]pair, 0, len(keep))
			for _, p := range keep {
				pairs = append(pairs, pair{b.GetIdService(), p})
			}
			if err := s.checkProjects(ctx, tx, m, pairs); err != nil {
				return err
			}
			added, err = s.writeLinks(ctx, tx, projectLinks, "id_service = @owner AND id_project <> ALL(@keep)",
				pgx.NamedArgs{"owner": b.GetIdService(), "keep": keep}, pairs)
			return err
		case r.Project != nil:
			b := r.Project
			if b.IdProject == nil {
				return apierr.MissingArgument("Missing id_project")
			}
			if b.Services == nil {
				return apierr.MissingArgument("Missing services")
			}
			keep, err := linkIDs(b.Services, "id_service")
			if err != nil {
				return err
			}
			if err := s.checkProjects(ctx, tx, m, []pair{{0, b.GetIdProject()}}); err != nil {
				return err
			}
			pairs := make([]pair, 0, len(keep))
			for _, sv := range keep {
				pairs = append(pairs, pair{sv, b.GetIdProject()})
			}
			if err := s.checkProjects(ctx, tx, m, pairs); err != nil {
				return err
			}
			added, err = s.writeLinks(ctx, tx, projectLinks, "id_project = @owner AND id_service <> ALL(@keep)",
				pgx.NamedArgs{"owner": b.GetIdProject(), "keep": keep}, pairs)
			return err
		case r.ServiceProject != nil:
			pairs, err := linkItems(ctx, tx, r.ServiceProject, "id_project")
			if err != nil {
				return err
			}
			if err := s.checkProjects(ctx, tx, m, pairs); err != nil {
				return err
			}
			added, err = s.writeLinks(ctx, tx, projectLinks, "", nil, pairs)
			return err
		}
		return apierr.MissingArgument("Missing service, project or service_project")
	})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.ServiceProject, 0, len(added))
	for _, l := range added {
		out = append(out, l.serviceProject(true, false))
	}
	return &corev1.PostServiceProjectsResponse{ServiceProjects: out}, nil
}

func (s *serviceProjects) DeleteServiceProject(ctx context.Context, r *corev1.DeleteServiceProjectRequest) (*corev1.DeleteServiceProjectResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	m := caller(ctx)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var svc, project int32
		err := tx.QueryRow(ctx, "SELECT id_service, id_project FROM core.t_services_projects WHERE id_service_project = $1 AND deleted_at IS NULL",
			r.GetId()).Scan(&svc, &project)
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("Not found")
		} else if err != nil {
			return err
		}
		f := m.acc.AdminOnly().Sites()
		var admin bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_projects p WHERE p.id_project = @p AND p.id_site IN (`+f.SQL+`))`,
			f.With(pgx.NamedArgs{"p": project})).Scan(&admin); err != nil {
			return err
		}
		if !admin {
			return apierr.Forbidden("Operation not completed")
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_services_projects SET deleted_at = now() WHERE id_service_project = $1", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceProjectResponse{}, nil
}

// ---- /api/user/services/sites

type serviceSites struct {
	*Service
	corev1.UnimplementedServiceSiteServiceServer
}

func (l *link) serviceSite(list bool) *corev1.ServiceSite {
	out := &corev1.ServiceSite{IdService: l.service, IdSite: l.other, ServiceRoles: l.roles}
	if l.id != nil {
		out.IdServiceSite = wrapperspb.Int32(*l.id)
	}
	if !list && l.svcKey != "" {
		out.ServiceName, out.ServiceKey, out.ServiceSystem, out.SiteName = &l.svcName, &l.svcKey, &l.system, &l.otherName
	}
	return out
}

func (s *serviceSites) GetServiceSites(ctx context.Context, r *corev1.GetServiceSitesRequest) (*corev1.GetServiceSitesResponse, error) {
	links, err := s.getLinks(ctx, siteLinks, r.IdSite, r.IdService, r.WithServices, r.WithSites, r.WithRoles)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.ServiceSite, 0, len(links))
	for _, l := range links {
		out = append(out, l.serviceSite(r.List))
	}
	return &corev1.GetServiceSitesResponse{ServiceSites: out}, nil
}

func (s *serviceSites) PostServiceSites(ctx context.Context, r *corev1.PostServiceSitesRequest) (*corev1.PostServiceSitesResponse, error) {
	// Superadmin only (declared on the RPC).
	var added []*link
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		switch {
		case r.Service != nil:
			b := r.Service
			if b.IdService == nil {
				return apierr.MissingArgument("Missing id_service")
			}
			if b.Sites == nil {
				return apierr.MissingArgument("Missing sites")
			}
			keep, err := linkIDs(b.Sites, "id_site")
			if err != nil {
				return err
			}
			pairs := make([]pair, 0, len(keep))
			for _, st := range keep {
				pairs = append(pairs, pair{b.GetIdService(), st})
			}
			added, err = s.writeLinks(ctx, tx, siteLinks, "id_service = @owner AND id_site <> ALL(@keep)",
				pgx.NamedArgs{"owner": b.GetIdService(), "keep": keep}, pairs)
			return err
		case r.Site != nil:
			b := r.Site
			if b.IdSite == nil {
				return apierr.MissingArgument("Missing site ID")
			}
			if b.Services == nil {
				return apierr.MissingArgument("Missing services")
			}
			keep, err := linkIDs(b.Services, "id_service")
			if err != nil {
				return err
			}
			pairs := make([]pair, 0, len(keep))
			for _, sv := range keep {
				pairs = append(pairs, pair{sv, b.GetIdSite()})
			}
			added, err = s.writeLinks(ctx, tx, siteLinks, "id_site = @owner AND id_service <> ALL(@keep)",
				pgx.NamedArgs{"owner": b.GetIdSite(), "keep": keep}, pairs)
			return err
		case r.ServiceSite != nil:
			pairs, err := linkItems(ctx, tx, r.ServiceSite, "id_site")
			if err != nil {
				return err
			}
			added, err = s.writeLinks(ctx, tx, siteLinks, "", nil, pairs)
			return err
		}
		return apierr.MissingArgument("Missing service, site or service_site")
	})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.ServiceSite, 0, len(added))
	for _, l := range added {
		out = append(out, l.serviceSite(true))
	}
	return &corev1.PostServiceSitesResponse{ServiceSites: out}, nil
}

func (s *serviceSites) DeleteServiceSite(ctx context.Context, r *corev1.DeleteServiceSiteRequest) (*corev1.DeleteServiceSiteResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE core.t_services_sites SET deleted_at = now() WHERE id_service_site = $1 AND deleted_at IS NULL", r.GetId())
		if err == nil && tag.RowsAffected() == 0 {
			return apierr.InvalidArgument("Not found")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceSiteResponse{}, nil
}
