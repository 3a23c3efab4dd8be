package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/projects

type projects struct {
	*Service
	corev1.UnimplementedProjectServiceServer
}

func (s *projects) GetProjects(ctx context.Context, r *corev1.GetProjectsRequest) (*corev1.GetProjectsResponse, error) {
	alias(&r.IdProject, r.Id)
	// One selector is honoured, in OpenTera's order; enabled filters them all (false included).
	f := store.ProjectFilter{Enabled: r.Enabled, WithCounts: r.List}
	switch {
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
	case r.UserUuid != "":
		f.UserUUID = &r.UserUuid
	case r.IdService != 0:
		f.IDService = &r.IdService
		if r.IdSite != 0 {
			f.IDSite = &r.IdSite
		}
	case r.IdSite != 0:
		f.IDSite = &r.IdSite
	case r.Name != "":
		f.Name = &r.Name
	}
	rows, err := store.ListProjects(ctx, s.db, caller(ctx).acc, f)
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.ProjectRow) *corev1.Project {
		p := projectProto(row)
		if r.List {
			// OpenTera's minimal form: counts instead of the role and the site's name.
			p.ProjectRole, p.SiteName = nil, nil
		} else {
			p.ProjectParticipantGroupCount, p.ProjectParticipantCount = nil, nil
		}
		return p
	})
	return reply(&corev1.GetProjectsResponse{Projects: out}, err)
}

func projectProto(r store.ProjectRow) *corev1.Project {
	return &corev1.Project{IdProject: r.IDProject, IdSite: r.IDSite, ProjectName: r.ProjectName, ProjectEnabled: r.ProjectEnabled,
		ProjectDescription: strValue(r.ProjectDescription), SiteName: &r.SiteName, ProjectRole: r.Role,
		ProjectParticipantGroupCount: r.GroupCount, ProjectParticipantCount: r.ParticipantCount}
}

// writtenProjectProto is a project as a POST of the user or service API answers it: without the
// caller's role and the counts.
func writtenProjectProto(r store.ProjectRow) *corev1.Project {
	p := projectProto(r)
	p.ProjectRole, p.ProjectParticipantGroupCount, p.ProjectParticipantCount = nil, nil, nil
	return p
}

func (s *projects) PostProject(ctx context.Context, r *corev1.PostProjectRequest) (*corev1.PostProjectResponse, error) {
	m := caller(ctx)
	b := r.GetProject()
	patch, err := projectPatch(b)
	if err != nil {
		return nil, err
	}
	var sessionTypes []int32
	if b.Sessiontypes != nil {
		if sessionTypes, err = idList(b.Sessiontypes, "id_session_type"); err != nil {
			return nil, err
		}
	}
	var row store.ProjectRow
	err = s.inTx(ctx, func(tx pgx.Tx) (err error) {
		id := b.GetIdProject()
		if id == 0 {
			id, err = store.InsertProject(ctx, tx, m.acc.AdminOnly(), patch)
		} else {
			err = store.UpdateProject(ctx, tx, m.acc.AdminOnly(), id, patch)
		}
		if err != nil {
			return orDenied(err, "Forbidden")
		}
		if row, err = store.GetProject(ctx, tx, m.acc, id); err != nil || b.Sessiontypes == nil {
			return err
		}
		return s.setSessionTypes(ctx, tx, m, row, sessionTypes)
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostProjectResponse{Projects: []*corev1.Project{writtenProjectProto(row)}}, nil
}

// projectPatch validates a {"project": {…}} body (user and service APIs) into a patch.
func projectPatch(b *corev1.ProjectBody) (store.ProjectPatch, error) {
	switch {
	case b == nil:
		return store.ProjectPatch{}, apierr.MissingArgument("Missing project")
	case b.IdProject == nil:
		return store.ProjectPatch{}, apierr.MissingArgument("Missing id_project")
	case b.GetIdProject() == 0 && b.IdSite == nil:
		return store.ProjectPatch{}, apierr.MissingArgument("Missing id_site arguments")
	case b.GetIdProject() == 0 && b.ProjectName == nil:
		return store.ProjectPatch{}, apierr.MissingArgument("Missing project_name")
	case b.ProjectName != nil && strings.TrimSpace(*b.ProjectName) == "":
		return store.ProjectPatch{}, apierr.InvalidArgument("Invalid project_name")
	}
	patch := store.ProjectPatch{IDSite: b.IdSite, Name: b.ProjectName, Enabled: b.ProjectEnabled,
		SetDescription: b.ProjectDescription != nil}
	if b.ProjectDescription != nil {
		patch.Description = &b.ProjectDescription.Value
	}
	return patch, nil
}

// setSessionTypes replaces a project's session types: every listed type must be visible (403)
// and linked to the project's site (403).
func (s *projects) setSessionTypes(ctx context.Context, tx pgx.Tx, m me, p store.ProjectRow, wanted []int32) error {
	inaccessible, offSite, err := store.SessionTypeCheck(ctx, tx, m.acc, p.IDSite, wanted)
	switch {
	case err != nil:
		return err
	case inaccessible > 0:
		return apierr.Forbidden("No access to a session type for at least one of it")
	case offSite > 0:
		return apierr.Forbidden("At least one session type is not associated to the project site")
	}
	return store.SetProjectSessionTypes(ctx, tx, m.acc, p.IDProject, wanted)
}

func (s *projects) DeleteProject(ctx context.Context, r *corev1.DeleteProjectRequest) (*corev1.DeleteProjectResponse, error) {
	// Site admins delete projects (OpenTera), not project admins: the row is guarded by its site.
	return &corev1.DeleteProjectResponse{}, s.softDelete(ctx, store.ProjectsBySite, r.Id)
}

// ---- /api/service/projects

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
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.ProjectRow) *corev1.Project {
		p := projectProto(row)
		p.SiteName = nil // minimal form
		return p
	})
	return reply(&corev1.SvcGetProjectsResponse{Projects: out}, err)
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
	return &corev1.SvcPostProjectResponse{Project: writtenProjectProto(row)}, nil
}

func (s *serviceAPI) SvcDeleteProject(ctx context.Context, r *corev1.SvcDeleteProjectRequest) (*corev1.SvcDeleteProjectResponse, error) {
	return &corev1.SvcDeleteProjectResponse{}, s.softDelete(ctx, store.Projects, r.Id)
}
