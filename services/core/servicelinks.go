package core

import (
	"context"
	"errors"
	"math"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/services/projects and /api/user/services/sites: links between services and
// projects or sites, both served by one implementation over store.ServiceLinks.

// linkAPI is what differs between the two endpoints: the link kind, the other side's key and
// OpenTera's answers to refused writes.
type linkAPI struct {
	kind  *store.ServiceLinks
	other string // id_project, id_site
	// outOfScope answers a project or site outside the write scope; refused a service not
	// allowed there.
	outOfScope, refused error
	// denied is the message of a delete outside the write scope.
	denied string
	// OpenTera's 400s of a POST without: the other side's id in its set, the service's list
	// of others, any of the three forms.
	missingOther, missingOthers, missingBody string
}

var (
	projectLinks = linkAPI{store.ServiceProjectLinks, "id_project", apierr.Forbidden("Access denied"),
		apierr.Forbidden("At least one service is not part of the allowed service for that project site"),
		"Operation not completed", "Missing id_project", "Missing projects", "Missing service, project or service_project"}
	siteLinks = linkAPI{store.ServiceSiteLinks, "id_site", apierr.InvalidArgument("Invalid id_site"),
		apierr.Forbidden("Forbidden"), "Forbidden", "Missing site ID", "Missing sites", "Missing service, site or service_site"}
)

// linkSet is the body of a set replacement: the owner's id and its list of counterparts.
type linkSet struct {
	owner *int32
	list  *structpb.ListValue
}

// postServiceLinks answers a POST of a link endpoint from one of its three forms: a service's set of
// others, another's set of services, items to add.
func (s *Service) postServiceLinks(ctx context.Context, a linkAPI, service, other *linkSet, items *structpb.Value) ([]store.ServiceLinkRow, error) {
	var w linkPost
	var err error
	switch {
	case service != nil:
		w, err = ownerSet(service.owner, service.list, true, "Missing id_service", a.missingOthers, a.other)
	case other != nil:
		w, err = ownerSet(other.owner, other.list, false, a.missingOther, "Missing services", "id_service")
	case items == nil:
		return nil, apierr.MissingArgument(a.missingBody)
	}
	if err != nil {
		return nil, err
	}
	return s.writeLinks(ctx, a, w, items)
}

// deleteLink removes one link by id (?id=).
func (s *Service) deleteLink(ctx context.Context, a linkAPI, id *int32) error {
	return s.deleteRow(ctx, id, "Not found", a.denied, func(ctx context.Context, db store.DB, scope access.Scope, id int32) error {
		return store.DeleteServiceLink(ctx, db, scope, a.kind, id)
	})
}

// getLinks answers a GET on a link endpoint: by the other side (site or project) when given,
// else by the service (OpenTera's selector order), with each link's service roles (without
// id_service) when withRoles.
func (s *Service) getLinks(ctx context.Context, a linkAPI, idOther, idService int32, withServices, withOthers, withRoles bool) ([]store.ServiceLinkRow, map[int32]*structpb.ListValue, error) {
	var f store.ServiceLinkFilter
	switch {
	case idOther != 0:
		f.IDOther, f.Candidates = &idOther, withServices
	case idService != 0:
		f.IDService, f.Candidates = &idService, withOthers
	default:
		return nil, nil, apierr.MissingArgument("Missing arguments")
	}
	links, err := store.ListServiceLinks(ctx, s.db, caller(ctx).acc, a.kind, f)
	if err != nil || !withRoles || len(links) == 0 {
		return links, nil, s.dbError(ctx, err)
	}
	ids := make([]int32, len(links))
	for i, l := range links {
		ids[i] = l.IDService
	}
	roles, err := s.listRoles(ctx, store.ServiceRoleFilter{IDServices: ids}, false)
	if err != nil {
		return nil, nil, err
	}
	by := map[int32]*structpb.ListValue{}
	for _, id := range ids {
		by[id] = &structpb.ListValue{}
	}
	for _, r := range roles {
		v, err := messageValue(r)
		if err != nil {
			return nil, nil, s.internal(ctx, err)
		}
		delete(v.GetStructValue().Fields, "id_service")
		by[r.IdService].Values = append(by[r.IdService].Values, v)
	}
	return links, by, nil
}

// linkPost is a parsed POST: a set replacement of one owner's links (a service's when
// byService, else a project's or site's), or pairs to add.
type linkPost struct {
	replace, byService bool
	owner              int32
	keep               []int32
	pairs              [][2]int32 // (id_service, id of the other side)
}

// ownerSet reads {id_<owner>, <list>: [{<key>: n}, …]}.
func ownerSet(owner *int32, l *structpb.ListValue, byService bool, missingOwner, missingList, key string) (linkPost, error) {
	if owner == nil {
		return linkPost{}, apierr.MissingArgument(missingOwner)
	}
	if l == nil {
		return linkPost{}, apierr.MissingArgument(missingList)
	}
	w := linkPost{replace: true, byService: byService, owner: *owner}
	for _, v := range l.GetValues() {
		n, ok := intField(v.GetStructValue(), key)
		if !ok {
			return linkPost{}, apierr.InvalidArgument("Badly formatted request: " + key)
		}
		w.keep = append(w.keep, n)
		if byService {
			w.pairs = append(w.pairs, [2]int32{*owner, n})
		} else {
			w.pairs = append(w.pairs, [2]int32{n, *owner})
		}
	}
	return w, nil
}

// writeLinks applies a POST in one transaction and answers the links written: for a
// replacement only the ones it added (as OpenTera), else every one.
func (s *Service) writeLinks(ctx context.Context, a linkAPI, w linkPost, items *structpb.Value) ([]store.ServiceLinkRow, error) {
	m := caller(ctx)
	if w.replace && w.byService && !m.superadmin {
		return nil, apierr.Forbidden("Forbidden") // a service's whole set: superadmins only
	}
	out := []store.ServiceLinkRow{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if !w.replace {
			if w.pairs, err = linkItems(ctx, tx, items, a.other); err != nil {
				return err
			}
		} else if err = store.RemoveServiceLinks(ctx, tx, m.acc, a.kind, w.byService, w.owner, w.keep); err != nil {
			return orErr(err, store.ErrNotFound, a.outOfScope)
		}
		for _, p := range w.pairs {
			id, existed, err := store.AddServiceLink(ctx, tx, m.acc, a.kind, p[0], p[1])
			if err != nil {
				return orErr(orErr(err, store.ErrNotFound, a.outOfScope), store.ErrRefused, a.refused)
			}
			if !existed || !w.replace {
				out = append(out, store.ServiceLinkRow{IDLink: &id, IDService: p[0], IDOther: p[1]})
			}
		}
		return nil
	})
	return out, err
}

// orErr replaces an error that is target by with.
func orErr(err, target, with error) error {
	if errors.Is(err, target) {
		return with
	}
	return err
}

func intField(st *structpb.Struct, key string) (int32, bool) {
	n, ok := st.GetFields()[key].GetKind().(*structpb.Value_NumberValue)
	if !ok || n.NumberValue != math.Trunc(n.NumberValue) || n.NumberValue < math.MinInt32 || n.NumberValue > math.MaxInt32 {
		return 0, false
	}
	return int32(n.NumberValue), true
}

// linkItems reads {id_service | service_uuid, <other>} or a list of them; uuids are resolved
// in the transaction.
func linkItems(ctx context.Context, tx pgx.Tx, v *structpb.Value, other string) ([][2]int32, error) {
	items := []*structpb.Value{v}
	if l, ok := v.GetKind().(*structpb.Value_ListValue); ok {
		items = l.ListValue.Values
	} else if v.GetStructValue() == nil {
		return nil, apierr.InvalidArgument("Badly formatted request")
	}
	out := [][2]int32{}
	for _, it := range items {
		st := it.GetStructValue()
		o, ok := intField(st, other)
		if !ok {
			return nil, apierr.InvalidArgument("Badly formatted request: " + other)
		}
		svc, ok := intField(st, "id_service")
		if u, has := st.GetFields()["service_uuid"]; has {
			var err error
			uuid := u.GetStringValue()
			if svc, err = store.ServiceIDOf(ctx, tx, &uuid, nil); err != nil {
				return nil, orErr(err, store.ErrNotFound, apierr.InvalidArgument("Invalid service_uuid"))
			}
			ok = true
		}
		if !ok {
			return nil, apierr.InvalidArgument("Badly formatted request: id_service")
		}
		out = append(out, [2]int32{svc, o})
	}
	return out, nil
}

// linkID is a link's id, null for a candidate.
func linkID(id *int32) *wrapperspb.Int32Value {
	if id == nil {
		return nil
	}
	return wrapperspb.Int32(*id)
}

// ---- /api/user/services/projects

type serviceProjects struct {
	*Service
	corev1.UnimplementedServiceProjectServiceServer
}

func serviceProjectProto(l store.ServiceLinkRow, roles *structpb.ListValue, list, withSites bool) *corev1.ServiceProject {
	out := &corev1.ServiceProject{IdServiceProject: linkID(l.IDLink), IdService: l.IDService, IdProject: l.IDOther, ServiceRoles: roles}
	if !list && l.ServiceKey != "" {
		out.ServiceName, out.ServiceKey, out.ServiceSystem, out.ProjectName = &l.ServiceName, &l.ServiceKey, &l.ServiceSystem, &l.OtherName
		if withSites {
			out.IdSite, out.SiteName = &l.IDSite, &l.SiteName
		}
	}
	return out
}

func (s *serviceProjects) GetServiceProjects(ctx context.Context, r *corev1.GetServiceProjectsRequest) (*corev1.GetServiceProjectsResponse, error) {
	links, roles, err := s.getLinks(ctx, projectLinks, r.IdProject, r.IdService, r.WithServices, r.WithProjects, r.WithRoles)
	return &corev1.GetServiceProjectsResponse{ServiceProjects: mapEach(links, func(l store.ServiceLinkRow) *corev1.ServiceProject {
		return serviceProjectProto(l, roles[l.IDService], r.List, r.WithSites)
	})}, err
}

func (s *serviceProjects) PostServiceProjects(ctx context.Context, r *corev1.PostServiceProjectsRequest) (*corev1.PostServiceProjectsResponse, error) {
	var service, project *linkSet
	if r.Service != nil {
		service = &linkSet{r.Service.IdService, r.Service.Projects}
	}
	if r.Project != nil {
		project = &linkSet{r.Project.IdProject, r.Project.Services}
	}
	links, err := s.postServiceLinks(ctx, projectLinks, service, project, r.ServiceProject)
	return &corev1.PostServiceProjectsResponse{ServiceProjects: mapEach(links, func(l store.ServiceLinkRow) *corev1.ServiceProject {
		return serviceProjectProto(l, nil, true, false)
	})}, err
}

func (s *serviceProjects) DeleteServiceProject(ctx context.Context, r *corev1.DeleteServiceProjectRequest) (*corev1.DeleteServiceProjectResponse, error) {
	return &corev1.DeleteServiceProjectResponse{}, s.deleteLink(ctx, projectLinks, r.Id)
}

// ---- /api/user/services/sites

type serviceSites struct {
	*Service
	corev1.UnimplementedServiceSiteServiceServer
}

func serviceSiteProto(l store.ServiceLinkRow, roles *structpb.ListValue, list bool) *corev1.ServiceSite {
	out := &corev1.ServiceSite{IdServiceSite: linkID(l.IDLink), IdService: l.IDService, IdSite: l.IDOther, ServiceRoles: roles}
	if !list && l.ServiceKey != "" {
		out.ServiceName, out.ServiceKey, out.ServiceSystem, out.SiteName = &l.ServiceName, &l.ServiceKey, &l.ServiceSystem, &l.OtherName
	}
	return out
}

func (s *serviceSites) GetServiceSites(ctx context.Context, r *corev1.GetServiceSitesRequest) (*corev1.GetServiceSitesResponse, error) {
	links, roles, err := s.getLinks(ctx, siteLinks, r.IdSite, r.IdService, r.WithServices, r.WithSites, r.WithRoles)
	return &corev1.GetServiceSitesResponse{ServiceSites: mapEach(links, func(l store.ServiceLinkRow) *corev1.ServiceSite {
		return serviceSiteProto(l, roles[l.IDService], r.List)
	})}, err
}

func (s *serviceSites) PostServiceSites(ctx context.Context, r *corev1.PostServiceSitesRequest) (*corev1.PostServiceSitesResponse, error) {
	// Superadmin only (declared on the RPC and in the store's statements).
	var service, site *linkSet
	if r.Service != nil {
		service = &linkSet{r.Service.IdService, r.Service.Sites}
	}
	if r.Site != nil {
		site = &linkSet{r.Site.IdSite, r.Site.Services}
	}
	links, err := s.postServiceLinks(ctx, siteLinks, service, site, r.ServiceSite)
	return &corev1.PostServiceSitesResponse{ServiceSites: mapEach(links, func(l store.ServiceLinkRow) *corev1.ServiceSite {
		return serviceSiteProto(l, nil, true)
	})}, err
}

func (s *serviceSites) DeleteServiceSite(ctx context.Context, r *corev1.DeleteServiceSiteRequest) (*corev1.DeleteServiceSiteResponse, error) {
	return &corev1.DeleteServiceSiteResponse{}, s.deleteLink(ctx, siteLinks, r.Id)
}
