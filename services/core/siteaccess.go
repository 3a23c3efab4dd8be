package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/siteaccess and /api/user/projectaccess: one engine, two scopes.

type siteAccess struct {
	*Service
	corev1.UnimplementedSiteAccessServiceServer
}

type projectAccess struct {
	*Service
	corev1.UnimplementedProjectAccessServiceServer
}

// roleScope is "site" or "project".
type roleScope struct {
	name, table, id, other string
	acc                    access.Object
}

var (
	siteScope    = roleScope{name: "site", table: "core.t_sites", id: "id_site", other: "id_project", acc: access.Sites}
	projectScope = roleScope{name: "project", table: "core.t_projects", id: "id_project", other: "id_site", acc: access.Projects}
)

// rolesCTE defines, for the OpenTeraServer roles: gsite/gproject (group, id, role, inh) and
// usite/uproject (user, id, role, inh), admin winning over user and an explicit role over an
// inherited one. A project role gives "user" on its site; a site admin role gives admin on
// every project of the site; superadmins are admin everywhere (inherited).
const rolesCTE = `WITH ex AS (
	SELECT sa.id_user_group AS g, sr.id_site, sr.id_project, sr.service_role_name AS role
	  FROM core.t_services_access sa
	  JOIN core.t_users_groups ug ON ug.id_user_group = sa.id_user_group AND ug.deleted_at IS NULL
	  JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
	  JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
	 WHERE sa.deleted_at IS NULL),
gsite AS (SELECT DISTINCT ON (g, id) g, id, role, inh FROM (
	SELECT g, id_site AS id, role, false AS inh FROM ex WHERE id_project IS NULL AND id_site IS NOT NULL
	UNION ALL
	SELECT ex.g, p.id_site, 'user', true FROM ex JOIN core.t_projects p ON p.id_project = ex.id_project AND p.deleted_at IS NULL) x
	ORDER BY g, id, (role = 'admin') DESC, inh),
gproject AS (SELECT DISTINCT ON (g, id) g, id, role, inh FROM (
	SELECT g, id_project AS id, role, false AS inh FROM ex WHERE id_project IS NOT NULL
	UNION ALL
	SELECT ex.g, p.id_project, 'admin', true FROM ex JOIN core.t_projects p ON p.id_site = ex.id_site AND p.deleted_at IS NULL
	 WHERE ex.id_project IS NULL AND ex.role = 'admin') x
	ORDER BY g, id, (role = 'admin') DESC, inh),
usite AS (SELECT DISTINCT ON (u, id) u, id, role, inh FROM (
	SELECT uug.id_user AS u, gr.id, gr.role, gr.inh FROM core.t_users_users_groups uug
	  JOIN gsite gr ON gr.g = uug.id_user_group
	  JOIN core.t_users us ON us.id_user = uug.id_user AND NOT us.user_superadmin
	 WHERE uug.deleted_at IS NULL
	UNION ALL
	SELECT us.id_user, o.id_site, 'admin', true FROM core.t_users us, core.t_sites o
	 WHERE us.user_superadmin AND us.deleted_at IS NULL AND o.deleted_at IS NULL) x
	ORDER BY u, id, (role = 'admin') DESC, inh),
uproject AS (SELECT DISTINCT ON (u, id) u, id, role, inh FROM (
	SELECT uug.id_user AS u, gr.id, gr.role, gr.inh FROM core.t_users_users_groups uug
	  JOIN gproject gr ON gr.g = uug.id_user_group
	  JOIN core.t_users us ON us.id_user = uug.id_user AND NOT us.user_superadmin
	 WHERE uug.deleted_at IS NULL
	UNION ALL
	SELECT us.id_user, o.id_project, 'admin', true FROM core.t_users us, core.t_projects o
	 WHERE us.user_superadmin AND us.deleted_at IS NULL AND o.deleted_at IS NULL) x
	ORDER BY u, id, (role = 'admin') DESC, inh) `

// accessRow is one row before it becomes a SiteAccess or ProjectAccess.
type accessRow struct {
	// The scope object (site or project).
	id                 int32
	name               string
	flag               bool    // site_2fa_required / project_enabled
	desc               *string // project_description
	siteID             int32   // project's site
	siteName           string
	group              *int32
	groupName          string
	user               *int32
	userName           string
	userEnabled        bool
	role               *string
	inherited          *bool
	inheritedAlways    bool // by_users: inherited is true, false or null
	userGroups         *structpb.ListValue
	hasObject, byUsers bool
}

type accessQuery struct {
	idUser, idUserGroup, id            int32
	admins, byUsers, withEmpty, withUG bool
}

// objectsSQL selects the scope objects with the site of each (project) object.
func (sc roleScope) objectsSQL() string {
	if sc.name == "site" {
		return `SELECT o.id_site AS id, o.site_name AS name, o.site_2fa_required AS flag, NULL::text AS descr,
		        o.id_site AS site_id, o.site_name AS site_name FROM core.t_sites o WHERE o.deleted_at IS NULL`
	}
	return `SELECT o.id_project AS id, o.project_name AS name, o.project_enabled AS flag, o.project_description AS descr,
	        o.id_site AS site_id, st.site_name AS site_name FROM core.t_projects o JOIN core.t_sites st ON st.id_site = o.id_site
	        WHERE o.deleted_at IS NULL`
}

func (s *Service) getAccess(ctx context.Context, sc roleScope, q accessQuery) ([]accessRow, error) {
	m := caller(ctx)
	objAcc := m.acc.IDs(sc.acc)
	var rows []accessRow
	var err error
	admin := ""
	if q.admins {
		admin = " AND r.role = 'admin'"
	}
	scan := func(sql string, args pgx.NamedArgs, withGroup bool) ([]accessRow, error) {
		res, err := s.db.Query(ctx, sql, args)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(res, func(row pgx.CollectableRow) (accessRow, error) {
			var a accessRow
			var inh *bool
			var err error
			if withGroup {
				var g int32
				err = row.Scan(&g, &a.groupName, &a.role, &inh)
				a.group = &g
			} else {
				err = row.Scan(&a.id, &a.name, &a.flag, &a.desc, &a.siteID, &a.siteName, &a.role, &inh)
				a.hasObject = true
			}
			if inh != nil && *inh {
				a.inherited = inh
			}
			return a, err
		})
	}
	switch {
	case q.id != 0: // the last selector wins, as OpenTera
		ok, err := s.can(ctx, s.db, m, sc.acc, q.id, false)
		if err != nil || !ok {
			return nil, err
		}
		gf := m.acc.SiteWide().UserGroups()
		join := "JOIN"
		if q.withEmpty {
			join = "LEFT JOIN"
		}
		rows, err = scan(rolesCTE+`SELECT ug.id_user_group, ug.user_group_name, r.role, r.inh FROM core.t_users_groups ug
			`+join+` g`+sc.name+` r ON r.g = ug.id_user_group AND r.id = @id`+admin+`
			WHERE ug.deleted_at IS NULL AND ug.id_user_group IN (`+gf.SQL+`) ORDER BY ug.id_user_group`,
			gf.With(pgx.NamedArgs{"id": q.id}), true)
		if err != nil {
			return nil, err
		}
		if q.byUsers {
			var groups []int32
			for _, r := range rows {
				groups = append(groups, *r.group)
			}
			return s.accessByUsers(ctx, sc, q, groups, []int32{q.id})
		}
	case q.idUserGroup != 0:
		ok, err := s.can(ctx, s.db, m, access.UserGroups, q.idUserGroup, false)
		if err != nil || !ok {
			return nil, err
		}
		join := "JOIN"
		if q.withEmpty {
			join = "LEFT JOIN"
		}
		rows, err = scan(rolesCTE+`SELECT o.*, r.role, r.inh FROM (`+sc.objectsSQL()+`) o
			`+join+` g`+sc.name+` r ON r.id = o.id AND r.g = @g`+admin+`
			WHERE o.id IN (`+objAcc.SQL+`) ORDER BY o.id`, objAcc.With(pgx.NamedArgs{"g": q.idUserGroup}), false)
		if err != nil {
			return nil, err
		}
		if q.byUsers {
			var objs []int32
			for _, r := range rows {
				objs = append(objs, r.id)
			}
			return s.accessByUsers(ctx, sc, q, []int32{q.idUserGroup}, objs)
		}
	case q.idUser != 0:
		ok, err := s.can(ctx, s.db, m, access.Users, q.idUser, false)
		if err != nil || !ok {
			return nil, err
		}
		rows, err = scan(rolesCTE+`SELECT o.*, r.role, r.inh FROM (`+sc.objectsSQL()+`) o
			JOIN u`+sc.name+` r ON r.id = o.id AND r.u = @u`+admin+`
			WHERE o.id IN (`+objAcc.SQL+`) ORDER BY o.id`, objAcc.With(pgx.NamedArgs{"u": q.idUser}), false)
		if err != nil {
			return nil, err
		}
	}
	return rows, err
}

// accessByUsers is the by_users form: one row per member of the groups and per object, with
// the user's own (effective) role on it.
func (s *Service) accessByUsers(ctx context.Context, sc roleScope, q accessQuery, groups, objs []int32) ([]accessRow, error) {
	m := caller(ctx)
	res, err := s.db.Query(ctx, rolesCTE+`
		SELECT us.id_user, us.user_firstname || ' ' || us.user_lastname, us.user_enabled, ob.id, r.role, r.inh
		  FROM (SELECT DISTINCT uug.id_user FROM core.t_users_users_groups uug
		         WHERE uug.id_user_group = ANY(@groups) AND uug.deleted_at IS NULL) mem
		  JOIN core.t_users us ON us.id_user = mem.id_user AND us.deleted_at IS NULL
		  CROSS JOIN unnest(@objs::int[]) ob(id)
		  LEFT JOIN u`+sc.name+` r ON r.u = us.id_user AND r.id = ob.id
		 ORDER BY us.id_user, ob.id`, pgx.NamedArgs{"groups": groups, "objs": objs})
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(res, func(row pgx.CollectableRow) (accessRow, error) {
		a := accessRow{byUsers: true, inheritedAlways: true}
		var u int32
		err := row.Scan(&u, &a.userName, &a.userEnabled, &a.id, &a.role, &a.inherited)
		a.user = &u
		if q.admins && a.role != nil && *a.role != "admin" {
			a.role, a.inherited = nil, nil
		}
		return a, err
	})
	if err != nil || !q.withUG {
		return out, err
	}
	ug := &userGroups{Service: s}
	for i := range out {
		r, err := ug.GetUserGroups(ctx, &corev1.GetUserGroupsRequest{IdUser: *out[i].user, List: true})
		if err != nil {
			return nil, err
		}
		out[i].userGroups = &structpb.ListValue{Values: []*structpb.Value{}}
		for _, g := range r.UserGroups {
			v, err := messageValue(g)
			if err != nil {
				return nil, err
			}
			out[i].userGroups.Values = append(out[i].userGroups.Values, v)
		}
	}
	_ = m
	return out, nil
}

func roleValue(r *string) *structpb.Value { return nullable(r) }

func inheritedValue(a accessRow) *structpb.Value {
	if a.inherited != nil {
		return structpb.NewBoolValue(*a.inherited)
	}
	if a.inheritedAlways {
		return structpb.NewNullValue()
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (s *siteAccess) GetSiteAccess(ctx context.Context, r *corev1.GetSiteAccessRequest) (*corev1.GetSiteAccessResponse, error) {
	if r.IdUser == 0 && r.IdUserGroup == 0 && r.IdSite == 0 && !r.Admins && !r.ByUsers && !r.WithUsergroups && !r.WithEmpty {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := s.getAccess(ctx, siteScope, accessQuery{idUser: r.IdUser, idUserGroup: r.IdUserGroup, id: r.IdSite,
		admins: r.Admins, byUsers: r.ByUsers && r.IdUser == 0, withEmpty: r.WithEmpty, withUG: r.WithUsergroups})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := []*corev1.SiteAccess{}
	for _, a := range rows {
		x := &corev1.SiteAccess{SiteAccessRole: roleValue(a.role), SiteAccessInherited: inheritedValue(a), UserGroups: a.userGroups}
		switch {
		case a.byUsers:
			x.IdUser, x.UserName, x.UserEnabled, x.IdSite = a.user, &a.userName, &a.userEnabled, ptr(a.id)
		case a.group != nil:
			x.IdUserGroup, x.UserGroupName = a.group, &a.groupName
		default:
			x.IdSite, x.SiteName, x.Site_2FaRequired = ptr(a.id), &a.name, &a.flag
		}
		out = append(out, x)
	}
	return &corev1.GetSiteAccessResponse{SiteAccess: out}, nil
}

func (s *projectAccess) GetProjectAccess(ctx context.Context, r *corev1.GetProjectAccessRequest) (*corev1.GetProjectAccessResponse, error) {
	if r.IdUser == 0 && r.IdUserGroup == 0 && r.IdProject == 0 && !r.Admins && !r.ByUsers && !r.WithUsergroups && !r.WithEmpty && !r.WithSites {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := s.getAccess(ctx, projectScope, accessQuery{idUser: r.IdUser, idUserGroup: r.IdUserGroup, id: r.IdProject,
		admins: r.Admins, byUsers: r.ByUsers && r.IdUser == 0, withEmpty: r.WithEmpty, withUG: r.WithUsergroups})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	var site *int32
	var siteName *string
	if r.WithSites && r.IdProject != 0 {
		var id int32
		var name string
		if err := s.db.QueryRow(ctx, `SELECT p.id_site, st.site_name FROM core.t_projects p JOIN core.t_sites st USING (id_site)
			WHERE p.id_project = $1`, r.IdProject).Scan(&id, &name); err == nil {
			site, siteName = &id, &name
		}
	}
	out := []*corev1.ProjectAccess{}
	for _, a := range rows {
		x := &corev1.ProjectAccess{ProjectAccessRole: roleValue(a.role), ProjectAccessInherited: inheritedValue(a)}
		switch {
		case a.byUsers:
			x.IdUser, x.UserName, x.UserEnabled, x.IdProject = a.user, &a.userName, &a.userEnabled, ptr(a.id)
		case a.group != nil:
			x.IdUserGroup, x.UserGroupName = a.group, &a.groupName
		default:
			x.IdProject, x.ProjectName, x.ProjectEnabled, x.ProjectDescription = ptr(a.id), &a.name, &a.flag, nullable(a.desc)
			if r.WithSites {
				x.IdSite, x.SiteName = &a.siteID, &a.siteName
			}
		}
		if r.WithSites && site != nil {
			x.IdSite, x.SiteName = site, siteName
		}
		out = append(out, x)
	}
	return &corev1.GetProjectAccessResponse{ProjectAccess: out}, nil
}

// roleAccessItem is one {id_user_group, id_<scope>, <scope>_access_role | id_service_role} object.
type roleAccessItem struct {
	group, id, roleID int32
	role              string
	hasRole, hasID    bool
}

func parseAccessItems(v *structpb.Value, sc roleScope) ([]roleAccessItem, error) {
	if v == nil {
		return nil, apierr.MissingArgument("Missing " + sc.name + "_access")
	}
	var objs []*structpb.Value
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		objs = []*structpb.Value{v}
	case *structpb.Value_ListValue:
		objs = k.ListValue.GetValues()
	default:
		return nil, apierr.InvalidArgument("Invalid " + sc.name + "_access")
	}
	num := func(f map[string]*structpb.Value, key string) (int32, bool, error) {
		x, ok := f[key]
		if !ok {
			return 0, false, nil
		}
		n, isNum := x.GetKind().(*structpb.Value_NumberValue)
		if !isNum || n.NumberValue != float64(int32(n.NumberValue)) {
			return 0, true, apierr.InvalidArgument("Invalid " + key)
		}
		return int32(n.NumberValue), true, nil
	}
	var out []roleAccessItem
	for _, o := range objs {
		st := o.GetStructValue()
		if st == nil {
			return nil, apierr.InvalidArgument("Invalid " + sc.name + "_access")
		}
		f := st.GetFields()
		var it roleAccessItem
		var has bool
		var err error
		if it.group, has, err = num(f, "id_user_group"); err != nil {
			return nil, err
		} else if !has {
			return nil, apierr.MissingArgument("Missing id_user_group")
		}
		if it.id, has, err = num(f, sc.id); err != nil {
			return nil, err
		} else if !has {
			return nil, apierr.MissingArgument("Missing " + sc.id)
		}
		if r, ok := f[sc.name+"_access_role"]; ok {
			sv, isStr := r.GetKind().(*structpb.Value_StringValue)
			if !isStr || !validRole(sv.StringValue) {
				return nil, apierr.InvalidArgument("Invalid role name or id for that " + sc.name)
			}
			it.role, it.hasRole = sv.StringValue, true
		}
		if it.roleID, it.hasID, err = num(f, "id_service_role"); err != nil {
			return nil, err
		}
		if !it.hasRole && !it.hasID {
			return nil, apierr.MissingArgument("Missing role name or id")
		}
		out = append(out, it)
	}
	return out, nil
}

// postAccess writes the items and returns the access rows written.
func (s *Service) postAccess(ctx context.Context, sc roleScope, v *structpb.Value) ([]accessRow, []int32, error) {
	m := caller(ctx)
	items, err := parseAccessItems(v, sc)
	if err != nil {
		return nil, nil, err
	}
	var written []int32
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for _, it := range items {
			if err := s.require(ctx, tx, m, sc.acc, it.id, true, "Forbidden"); err != nil {
				return err
			}
			role := it.role
			if it.hasID {
				if it.roleID == 0 {
					role = ""
				} else {
					err := tx.QueryRow(ctx, `SELECT sr.service_role_name FROM core.t_services_roles sr
						JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
						WHERE sr.id_service_role = $1 AND sr.`+sc.id+` = $2 AND sr.`+sc.other+` IS NULL AND sr.deleted_at IS NULL`,
						it.roleID, it.id).Scan(&role)
					if errors.Is(err, pgx.ErrNoRows) {
						return apierr.InvalidArgument("Invalid role name or id for that " + sc.name)
					}
					if err != nil {
						return err
					}
				}
			}
			if sc.name == "site" && role == "user" {
				// A "user" site role already comes from the group's project roles there: keep it implicit.
				var implied bool
				if err := tx.QueryRow(ctx, groupRolesCTE+` SELECT EXISTS (SELECT 1 FROM ex JOIN core.t_projects p
					ON p.id_project = ex.id_project AND p.deleted_at IS NULL WHERE p.id_site = @s)`,
					pgx.NamedArgs{"g": it.group, "s": it.id}).Scan(&implied); err != nil {
					return err
				}
				if implied {
					role = ""
				}
			}
			if err := setGroupRole(ctx, tx, it.group, sc.id, it.id, role); err != nil {
				return err
			}
			if role == "" {
				continue
			}
			var id int32
			if err := tx.QueryRow(ctx, `SELECT sa.id_service_access FROM core.t_services_access sa
				JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role
				JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
				WHERE sa.id_user_group = $1 AND sr.`+sc.id+` = $2 AND sr.`+sc.other+` IS NULL AND sa.deleted_at IS NULL
				  AND sr.service_role_name = $3`, it.group, it.id, role).Scan(&id); err != nil {
				return err
			}
			written = append(written, id)
		}
		return nil
	})
	return nil, written, err
}

// accessRows reads access rows by id for the POST answer.
func (s *Service) accessRows(ctx context.Context, sc roleScope, ids []int32) ([]struct {
	id, group, role, service, scopeID int32
	roleName, groupName               string
}, error) {
	res, err := s.db.Query(ctx, `SELECT sa.id_service_access, sa.id_user_group, sa.id_service_role, sr.id_service, sr.`+sc.id+`,
		sr.service_role_name, ug.user_group_name FROM core.t_services_access sa
		JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role
		JOIN core.t_users_groups ug ON ug.id_user_group = sa.id_user_group
		WHERE sa.id_service_access = ANY($1) ORDER BY sa.id_service_access`, ids)
	if err != nil {
		return nil, err
	}
	type row = struct {
		id, group, role, service, scopeID int32
		roleName, groupName               string
	}
	return pgx.CollectRows(res, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.group, &x.role, &x.service, &x.scopeID, &x.roleName, &x.groupName)
	})
}

func (s *siteAccess) PostSiteAccess(ctx context.Context, r *corev1.PostSiteAccessRequest) (*corev1.PostSiteAccessResponse, error) {
	_, ids, err := s.postAccess(ctx, siteScope, r.SiteAccess)
	if err != nil {
		return nil, err
	}
	rows, err := s.accessRows(ctx, siteScope, ids)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := []*corev1.SiteAccess{}
	for _, x := range rows {
		out = append(out, &corev1.SiteAccess{IdSiteAccess: ptr(x.id), IdServiceAccess: ptr(x.id), IdUserGroup: ptr(x.group),
			IdServiceRole: ptr(x.role), IdService: ptr(x.service), IdSite: ptr(x.scopeID), ServiceRoleName: ptr(x.roleName),
			UserGroupName: ptr(x.groupName), SiteAccessRole: structpb.NewStringValue(x.roleName)})
	}
	return &corev1.PostSiteAccessResponse{SiteAccess: out}, nil
}

func (s *projectAccess) PostProjectAccess(ctx context.Context, r *corev1.PostProjectAccessRequest) (*corev1.PostProjectAccessResponse, error) {
	_, ids, err := s.postAccess(ctx, projectScope, r.ProjectAccess)
	if err != nil {
		return nil, err
	}
	rows, err := s.accessRows(ctx, projectScope, ids)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := []*corev1.ProjectAccess{}
	for _, x := range rows {
		out = append(out, &corev1.ProjectAccess{IdProjectAccess: ptr(x.id), IdServiceAccess: ptr(x.id), IdUserGroup: ptr(x.group),
			IdServiceRole: ptr(x.role), IdService: ptr(x.service), IdProject: ptr(x.scopeID), ServiceRoleName: ptr(x.roleName),
			UserGroupName: ptr(x.groupName), ProjectAccessRole: structpb.NewStringValue(x.roleName)})
	}
	return &corev1.PostProjectAccessResponse{ProjectAccess: out}, nil
}

// deleteAccess removes one access row of the scope; the caller must administer its object.
func (s *Service) deleteAccess(ctx context.Context, sc roleScope, id *int32) error {
	m := caller(ctx)
	if id == nil {
		return apierr.MissingArgument("Missing id")
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var scopeID *int32
		err := tx.QueryRow(ctx, `SELECT CASE WHEN sr.`+sc.other+` IS NULL THEN sr.`+sc.id+` END FROM core.t_services_access sa
			JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role
			WHERE sa.id_service_access = $1 AND sa.deleted_at IS NULL`, *id).Scan(&scopeID)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierr.InvalidArgument("No " + sc.name + " access to delete")
		}
		if err != nil {
			return err
		}
		if scopeID == nil {
			return apierr.Forbidden("Forbidden")
		}
		if err := s.require(ctx, tx, m, sc.acc, *scopeID, true, "Forbidden"); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_services_access SET deleted_at = now() WHERE id_service_access = $1", *id)
		return err
	})
}

func (s *siteAccess) DeleteSiteAccess(ctx context.Context, r *corev1.DeleteSiteAccessRequest) (*corev1.DeleteSiteAccessResponse, error) {
	if err := s.deleteAccess(ctx, siteScope, r.Id); err != nil {
		return nil, err
	}
	return &corev1.DeleteSiteAccessResponse{}, nil
}

func (s *projectAccess) DeleteProjectAccess(ctx context.Context, r *corev1.DeleteProjectAccessRequest) (*corev1.DeleteProjectAccessResponse, error) {
	if err := s.deleteAccess(ctx, projectScope, r.Id); err != nil {
		return nil, err
	}
	return &corev1.DeleteProjectAccessResponse{}, nil
}
