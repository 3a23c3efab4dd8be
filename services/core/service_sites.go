package core

import (
	"context"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/sites and /api/service/projects

func (s *serviceAPI) SvcGetSites(ctx context.Context, r *corev1.SvcGetSitesRequest) (*corev1.SvcGetSitesResponse, error) {
	var f store.SiteFilter
	switch {
	case r.IdSite != 0:
		f.IDSite = &r.IdSite // declared: 403 outside the service's sites
	case r.IdUser != 0:
		f.IDUser = &r.IdUser
	}
	rows, err := store.ListSites(ctx, s.db, caller(ctx).acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.Site, len(rows))
	for i, row := range rows {
		out[i] = siteProto(row)
	}
	return &corev1.SvcGetSitesResponse{Sites: out}, nil
}

func (s *serviceAPI) SvcGetProjects(ctx context.Context, r *corev1.SvcGetProjectsRequest) (*corev1.SvcGetProjectsResponse, error) {
	m := caller(ctx)
	var f store.ProjectFilter
	switch {
	case r.IdProject != 0:
		f.IDProject = &r.IdProject // declared: 403 outside the service's projects
	case r.IdSite != 0:
		// OpenTera lists every project of a site the service is linked to; only the projects
		// the service is linked to are shown here (the others are outside its scope).
		if err := s.require(ctx, s.db, m, access.Sites, r.IdSite, false, "Forbidden"); err != nil {
			return nil, err
		}
		f.IDSite = &r.IdSite
	default:
		return nil, apierr.MissingArgument("Missing parameter")
	}
	rows, err := store.ListProjects(ctx, s.db, m.acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.Project, len(rows))
	for i, row := range rows {
		out[i] = projectProto(row)
		out[i].SiteName = nil // minimal form
	}
	return &corev1.SvcGetProjectsResponse{Projects: out}, nil
}

func (s *serviceAPI) SvcPostProject(ctx context.Context, r *corev1.SvcPostProjectRequest) (*corev1.SvcPostProjectResponse, error) {
	m := caller(ctx)
	patch, err := projectPatch(r.GetProject())
	if err != nil {
		return nil, err
	}
	var row store.ProjectRow
	err = s.inTx(ctx, func(tx pgx.Tx) (err error) {
		id := r.Project.GetIdProject()
		if id == 0 {
			// On a site of the service (scoped insert); OpenTera then links the service to the
			// new project, so that it keeps seeing it.
			if id, err = store.InsertProject(ctx, tx, m.acc, patch); err == nil {
				_, err = store.InsertLink(ctx, tx, store.ServiceProjects, serviceID(ctx), id)
			}
		} else {
			err = store.UpdateProject(ctx, tx, m.acc, id, patch)
		}
		if err != nil {
			return orDenied(err, "Forbidden")
		}
		row, err = store.GetProject(ctx, tx, m.acc, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := projectProto(row)
	out.ProjectRole, out.ProjectParticipantGroupCount, out.ProjectParticipantCount = nil, nil, nil
	return &corev1.SvcPostProjectResponse{Project: out}, nil
}

func (s *serviceAPI) SvcDeleteProject(ctx context.Context, r *corev1.SvcDeleteProjectRequest) (*corev1.SvcDeleteProjectResponse, error) {
	return &corev1.SvcDeleteProjectResponse{}, s.softDelete(ctx, store.Projects, r.Id)
}
