package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/projects

type projects struct {
	*Service
	corev1.UnimplementedProjectServiceServer
}

const projectCols = `p.id_project, p.id_site, p.project_name, p.project_enabled, p.project_description, s.site_name`

func scanProject(row pgx.Row, extra ...any) (*corev1.Project, error) {
	p := &corev1.Project{}
	var desc *string
	dst := append([]any{&p.IdProject, &p.IdSite, &p.ProjectName, &p.ProjectEnabled, &desc, &p.SiteName}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	p.ProjectDescription = strValue(desc)
	return p, nil
}

func (s *projects) GetProjects(ctx context.Context, r *corev1.GetProjectsRequest) (*corev1.GetProjectsResponse, error) {
	m := caller(ctx)
	if r.Id != 0 {
		r.IdProject = r.Id
	}
	args := pgx.NamedArgs{"me": m.id}
	var where string
	switch {
	case r.IdProject != 0:
		where, args["id"] = "p.id_project = @id", r.IdProject
	case r.UserUuid != "":
		// Projects that user can access, among the caller's.
		where = `p.id_project IN (SELECT ur.id_project FROM core.t_users u, core.user_project_roles(u.id_user) ur
		                           WHERE u.user_uuid = @uuid AND u.deleted_at IS NULL)`
		args["uuid"] = r.UserUuid
	case r.IdService != 0:
		f := m.acc.Services()
		where = `p.id_project IN (SELECT sp.id_project FROM core.t_services_projects sp
		                           WHERE sp.id_service = @svc AND sp.deleted_at IS NULL)
		         AND @svc IN (` + f.SQL + `) AND (@site = 0 OR p.id_site = @site)`
		args = f.With(args)
		args["svc"], args["site"] = r.IdService, r.IdSite
	case r.IdSite != 0:
		where, args["site"] = "p.id_site = @site", r.IdSite
	case r.Name != "":
		where, args["name"] = "p.project_name = @name", r.Name
	default:
		where = "true"
	}
	rows, err := s.db.Query(ctx, `
		SELECT `+projectCols+`, r.role,
		       (SELECT count(*)::int FROM core.t_participants_groups g WHERE g.id_project = p.id_project AND g.deleted_at IS NULL),
		       (SELECT count(*)::int FROM core.t_participants pa WHERE pa.id_project = p.id_project AND pa.deleted_at IS NULL)
		  FROM core.t_projects p
		  JOIN core.t_sites s ON s.id_site = p.id_site AND s.deleted_at IS NULL
		  JOIN core.user_project_roles(@me) r ON r.id_project = p.id_project
		 WHERE p.deleted_at IS NULL AND `+where+` ORDER BY p.id_project`, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.Project, error) {
		var role string
		var groups, parts int32
		p, err := scanProject(row, &role, &groups, &parts)
		if err != nil {
			return nil, err
		}
		if r.List {
			p.ProjectParticipantGroupCount, p.ProjectParticipantCount = &groups, &parts
		} else {
			p.ProjectRole = &role
		}
		return p, nil
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetProjectsResponse{Projects: out}, nil
}

func (s *projects) PostProject(ctx context.Context, r *corev1.PostProjectRequest) (*corev1.PostProjectResponse, error) {
	m := caller(ctx)
	b := r.GetProject()
	if b == nil {
		return nil, apierr.MissingArgument("Missing project")
	}
	if b.IdProject == nil || b.IdSite == nil {
		return nil, apierr.MissingArgument("Missing id_project or id_site arguments")
	}
	c := newChanges()
	c.set("id_site", b.GetIdSite())
	if b.ProjectName != nil {
		if strings.TrimSpace(*b.ProjectName) == "" {
			return nil, apierr.InvalidArgument("Invalid project_name")
		}
		c.set("project_name", *b.ProjectName)
	}
	if b.ProjectEnabled != nil {
		c.set("project_enabled", *b.ProjectEnabled)
	}
	if b.ProjectDescription != nil {
		c.set("project_description", b.ProjectDescription.GetValue())
	}
	var sessionTypes []int32
	if b.Sessiontypes != nil {
		var err error
		if sessionTypes, err = idList(b.Sessiontypes, "id_session_type"); err != nil {
			return nil, err
		}
	}
	id := b.GetIdProject()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		siteAdmin, err := s.can(ctx, tx, m, access.Sites, b.GetIdSite(), true)
		if err != nil {
			return err
		}
		if id > 0 {
			if err := s.require(ctx, tx, m, access.Projects, id, true, "Forbidden"); err != nil {
				return err
			}
			var site int32
			if err := tx.QueryRow(ctx, "SELECT id_site FROM core.t_projects WHERE id_project = $1", id).Scan(&site); err != nil {
				return err
			}
			if site != b.GetIdSite() && !siteAdmin {
				// Moving a project needs admin rights on the destination site.
				return apierr.Forbidden("Forbidden")
			}
		} else if !siteAdmin {
			return apierr.Forbidden("Forbidden")
		}
		if b.Sessiontypes != nil {
			if err := s.checkSessionTypes(ctx, tx, m, b.GetIdSite(), sessionTypes); err != nil {
				return err
			}
		}
		if id > 0 {
			if _, err := tx.Exec(ctx, "UPDATE core.t_projects SET "+c.setSQL()+" WHERE id_project = @id AND deleted_at IS NULL",
				merge(c.args, pgx.NamedArgs{"id": id})); err != nil {
				return err
			}
		} else {
			if !c.has("project_name") {
				return apierr.MissingArgument("Missing project_name")
			}
			if err := tx.QueryRow(ctx, "INSERT INTO core.t_projects "+c.insertSQL()+" RETURNING id_project", c.args).Scan(&id); err != nil {
				return err
			}
		}
		if b.Sessiontypes != nil {
			return s.replaceSessionTypes(ctx, tx, m, id, sessionTypes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p, err := scanProject(s.db.QueryRow(ctx, `SELECT `+projectCols+` FROM core.t_projects p
		JOIN core.t_sites s ON s.id_site = p.id_site WHERE p.id_project = $1`, id))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostProjectResponse{Projects: []*corev1.Project{p}}, nil
}

// checkSessionTypes: every listed type must be accessible (403) and linked to the site (403).
func (s *projects) checkSessionTypes(ctx context.Context, tx pgx.Tx, m me, site int32, wanted []int32) error {
	f := m.acc.SessionTypes()
	var inaccessible, offSite int
	err := tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE w NOT IN (`+f.SQL+`)),
		       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM core.t_sessions_types_sites ts
		                          WHERE ts.id_session_type = w AND ts.id_site = @site AND ts.deleted_at IS NULL))
		  FROM unnest(@wanted::int[]) w`, f.With(pgx.NamedArgs{"wanted": wanted, "site": site})).Scan(&inaccessible, &offSite)
	if err != nil {
		return err
	}
	if inaccessible > 0 {
		return apierr.Forbidden("No access to a session type for at least one of it")
	}
	if offSite > 0 {
		return apierr.Forbidden("At least one session type is not associated to the project site")
	}
	return nil
}

// replaceSessionTypes makes the project's session types the listed set, touching only the
// links of types the caller can see.
func (s *projects) replaceSessionTypes(ctx context.Context, tx pgx.Tx, m me, id int32, wanted []int32) error {
	f := m.acc.SessionTypes()
	if _, err := tx.Exec(ctx, `
		INSERT INTO core.t_sessions_types_projects AS l (id_session_type, id_project)
		SELECT DISTINCT w, @id::int FROM unnest(@wanted::int[]) w
		ON CONFLICT (id_session_type, id_project) DO UPDATE SET deleted_at = NULL WHERE l.deleted_at IS NOT NULL`,
		pgx.NamedArgs{"wanted": wanted, "id": id}); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		UPDATE core.t_sessions_types_projects SET deleted_at = now()
		 WHERE id_project = @id AND deleted_at IS NULL AND NOT (id_session_type = ANY(@wanted::int[]))
		   AND id_session_type IN (`+f.SQL+`)`, f.With(pgx.NamedArgs{"wanted": wanted, "id": id}))
	return err
}

func (s *projects) DeleteProject(ctx context.Context, r *corev1.DeleteProjectRequest) (*corev1.DeleteProjectResponse, error) {
	m := caller(ctx)
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var site int32
		err := tx.QueryRow(ctx, "SELECT id_site FROM core.t_projects WHERE id_project = $1 AND deleted_at IS NULL", r.GetId()).Scan(&site)
		if err == pgx.ErrNoRows {
			return apierr.Forbidden("Forbidden")
		}
		if err != nil {
			return err
		}
		if err := s.require(ctx, tx, m, access.Sites, site, true, "Forbidden"); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_projects SET deleted_at = now() WHERE id_project = $1 AND deleted_at IS NULL", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteProjectResponse{}, nil
}
