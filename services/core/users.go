package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/jackc/pgx/v5"
	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/users

type users struct {
	*Service
	corev1.UnimplementedUserServiceServer
}

// userProto is a row as OpenTera's user JSON (minimal: the list form).
func userProto(r store.UserRow, minimal bool) *corev1.User {
	u := &corev1.User{IdUser: r.IDUser, UserUuid: r.UserUUID, UserFirstname: r.Firstname, UserLastname: r.Lastname,
		UserName: r.Firstname + " " + r.Lastname, UserEnabled: r.Enabled, UserSuperadmin: r.Superadmin, User_2FaEnabled: r.TwoFAEnabled}
	if minimal {
		return u
	}
	u.UserUsername, u.UserProfile = &r.Username, &r.Profile
	u.UserEmail, u.UserNotes, u.UserLastonline = nullable(r.Email), nullable(r.Notes), nullable(isoTime(r.Lastonline))
	u.User_2FaOtpEnabled, u.User_2FaEmailEnabled, u.UserForcePasswordChange = &r.TwoFAOTPEnabled, &r.TwoFAEmailEnabled, &r.ForcePassword
	return u
}

// userFilter is the one selector OpenTera honours, in its order of precedence.
func userFilter(r *corev1.GetUsersRequest) store.UserFilter {
	f := store.UserFilter{Enabled: r.Enabled}
	switch {
	case r.Uuid != "" || r.UserUuid != "":
		f.UUID = new(r.UserUuid)
		if r.Uuid != "" {
			f.UUID = new(r.Uuid)
		}
	case r.Id != 0 || r.IdUser != 0:
		f.IDUser = new(r.IdUser)
		if r.Id != 0 {
			f.IDUser = new(r.Id)
		}
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
	case r.Self != nil:
		f.Self = true
	case r.Username != "":
		f.Username = &r.Username
	case r.IdUserGroup != 0:
		f.IDUserGroup = &r.IdUserGroup
	}
	return f
}

func (s *users) GetUsers(ctx context.Context, r *corev1.GetUsersRequest) (*corev1.GetUsersResponse, error) {
	m := caller(ctx)
	rows, err := store.ListUsers(ctx, s.db, m.acc, userFilter(r))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.User, len(rows))
	for i, row := range rows {
		u := userProto(row, r.List)
		if !r.List && u.IdUser == m.id {
			if err := s.addRoles(ctx, u); err != nil {
				return nil, err
			}
		}
		if r.WithUsergroups {
			if u.UserUserGroups, err = s.userGroupsOf(ctx, m, u.IdUser); err != nil {
				return nil, err
			}
		}
		if r.WithStatus {
			online, busy := s.presence.Online(presence.User, u.UserUuid), s.presence.Busy(presence.User, u.UserUuid)
			u.UserOnline, u.UserBusy = &online, &busy
		}
		out[i] = u
	}
	return &corev1.GetUsersResponse{Users: out}, nil
}

// addRoles adds the caller's sites and projects with its roles to its own entry.
func (s *users) addRoles(ctx context.Context, u *corev1.User) error {
	st, err := (&sites{Service: s.Service}).GetSites(ctx, &corev1.GetSitesRequest{})
	if err != nil {
		return err
	}
	pr, err := (&projects{Service: s.Service}).GetProjects(ctx, &corev1.GetProjectsRequest{})
	if err != nil {
		return err
	}
	if u.Sites, err = messageList(st.Sites); err != nil {
		return s.internal(ctx, err)
	}
	if u.Projects, err = messageList(pr.Projects); err != nil {
		return s.internal(ctx, err)
	}
	return nil
}

// userGroupsOf lists a user's groups the caller can see (those with a role on one of its sites or
// their projects, a superset of the groups of its projects): a visible user may also belong to
// groups of sites the caller has no access to.
func (s *users) userGroupsOf(ctx context.Context, m me, id int32) (*structpb.ListValue, error) {
	rows, err := store.ListUserGroups(ctx, s.db, m.acc.SiteWide(), store.UserGroupFilter{IDUser: &id})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := &structpb.ListValue{}
	for _, g := range rows {
		out.Values = append(out.Values, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"id_user_group": structpb.NewNumberValue(float64(g.IDUserGroup)), "user_group_name": structpb.NewStringValue(g.UserGroupName)}}))
	}
	return out, nil
}

func (s *users) PostUser(ctx context.Context, r *corev1.PostUserRequest) (*corev1.PostUserResponse, error) {
	m := caller(ctx)
	b := r.GetUser()
	id, err := bodyID(b, func(b *corev1.UserBody) *int32 { return b.IdUser }, "user")
	if err != nil {
		return nil, err
	}
	p, err := userPatch(b, m.superadmin)
	if err != nil {
		return nil, err
	}
	var row store.UserRow
	err = s.write(ctx, func(tx store.DB) error {
		if p.Groups != nil {
			ok, err := store.CanGrantUserGroups(ctx, tx, m.acc, p.Groups)
			if err != nil || !ok {
				return orForbidden(ok, err, "No access for at a least one user group in the list")
			}
		}
		if id == 0 {
			if err := newUserCheck(b, m, p); err != nil {
				return err
			}
			row, err = store.InsertUser(ctx, tx, m.acc, p)
			return userWriteError(orDenied(err, "Forbidden"))
		}
		row, err = store.UpdateUser(ctx, tx, m.acc, id, p)
		return userWriteError(userNotFound(ctx, tx, id, "Invalid id_user", err))
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostUserResponse{Users: []*corev1.User{userProto(row, false)}}, nil
}

// userPatch reads the body's keys, refusing invalid values before anything is read.
func userPatch(b *corev1.UserBody, superadmin bool) (store.UserPatch, error) {
	p := store.UserPatch{Username: b.UserUsername, Email: b.UserEmail, Firstname: b.UserFirstname, Lastname: b.UserLastname,
		Notes: b.UserNotes, Enabled: b.UserEnabled, ForcePassword: b.UserForcePasswordChange, TwoFAEnabled: b.User_2FaEnabled}
	if b.GetIdUser() > 0 && b.UserUsername != nil {
		return p, apierr.InvalidArgument("Username can't be modified")
	}
	if b.UserSuperadmin != nil && (superadmin || b.GetUserSuperadmin()) {
		// A false from anyone else is the value every user it may write already has (clients send
		// the whole form), so it is dropped rather than refused; a true is refused below and, for a
		// stale token, by the statement itself.
		p.Superadmin = b.UserSuperadmin
	}
	switch k := b.UserProfile.GetKind().(type) {
	case nil:
	case *structpb.Value_StringValue:
		p.Profile = &k.StringValue
	case *structpb.Value_StructValue:
		j, _ := json.Marshal(k.StructValue.AsMap())
		p.Profile = new(string(j))
	default:
		return p, apierr.InvalidArgument("Invalid user_profile")
	}
	if pw := b.GetUserPassword(); pw != "" {
		p.Password = &pw
		if err := store.CheckPasswordPolicy(pw, ""); err != nil {
			return p, userWriteError(err)
		}
	}
	if b.UserUsername != nil && (len(*b.UserUsername) > 50 || strings.TrimSpace(*b.UserUsername) == "") {
		return p, apierr.InvalidArgument("Invalid user_username")
	}
	var err error
	if b.UserUserGroups != nil {
		p.Groups, err = idList(b.UserUserGroups, "id_user_group")
	}
	if err == nil && p.Superadmin != nil && !superadmin {
		err = apierr.Forbidden("Only superadmins can change user_superadmin")
	}
	return p, err
}

// newUserCheck is OpenTera's refusals of a create, in its order: a site admin creates users only
// into groups it administers; then every required field; then a non-empty password.
func newUserCheck(b *corev1.UserBody, m me, p store.UserPatch) error {
	if !m.superadmin && len(p.Groups) == 0 {
		return apierr.Forbidden("Forbidden")
	}
	missing := unsetKeys(bodyField{"user_username", b.UserUsername != nil}, bodyField{"user_firstname", b.UserFirstname != nil},
		bodyField{"user_lastname", b.UserLastname != nil}, bodyField{"user_enabled", b.UserEnabled != nil},
		bodyField{"user_profile", b.UserProfile != nil}, bodyField{"user_password", b.UserPassword != nil})
	if len(missing) > 0 {
		return apierr.MissingArgument("Missing required fields: " + strings.Join(missing, ", "))
	}
	if p.Password == nil {
		return apierr.InvalidArgument("Invalid password")
	}
	return nil
}

// userWriteError maps the store's refusals of a user write to OpenTera's answers.
func userWriteError(err error) error {
	var weak *store.PasswordPolicyError
	var ce *store.ConflictError
	switch {
	case errors.As(err, &weak):
		return apierr.InvalidArgument(weak.Message)
	case errors.As(err, &ce) && strings.Contains(ce.Constraint, "username"):
		return apierr.Conflict("Username unavailable.")
	}
	return err
}

// userNotFound tells an unknown user (400 with msg, as OpenTera) from one the scope does not
// cover (403) when a scoped write found no row; other errors pass unchanged.
func userNotFound(ctx context.Context, tx store.DB, id int32, msg string, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	exists, e := store.UserExists(ctx, tx, id)
	switch {
	case e != nil:
		return e
	case exists:
		return apierr.Forbidden("Forbidden")
	}
	return apierr.InvalidArgument(msg)
}

func (s *users) DeleteUser(ctx context.Context, r *corev1.DeleteUserRequest) (*corev1.DeleteUserResponse, error) {
	m := caller(ctx)
	// Same rule as the update; a site admin not administering every group of the user only takes
	// the user out of its own groups.
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		if id == m.id {
			return apierr.Forbidden("Sorry, you can't delete yourself!")
		}
		return userNotFound(ctx, tx, id, "Invalid id", store.DeleteUser(ctx, tx, m.acc, id))
	})
	return reply(&corev1.DeleteUserResponse{}, err)
}

// ---- /api/service/users and /api/service/users/access

func (s *serviceAPI) SvcGetUsers(ctx context.Context, r *corev1.SvcGetUsersRequest) (*corev1.SvcGetUsersResponse, error) {
	if r.UserUuid == "" && r.IdUser == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	// The user API's query, scoped to the service's users (id_user is also declared).
	res, err := (&users{Service: s.Service}).GetUsers(ctx, &corev1.GetUsersRequest{UserUuid: r.UserUuid, IdUser: r.IdUser})
	if err != nil {
		return nil, err
	}
	if len(res.Users) == 0 {
		return nil, apierr.Forbidden("Service doesn't have permission to access the requested data")
	}
	return &corev1.SvcGetUsersResponse{User: res.Users[0]}, nil
}

func (s *serviceAPI) SvcGetUserAccess(ctx context.Context, r *corev1.SvcGetUserAccessRequest) (*corev1.SvcGetUserAccessResponse, error) {
	key, fn, col, obj, id := "project_role", "core.user_project_roles", "id_project", access.Projects, r.IdProject
	switch {
	case r.UuidUser == "":
		return nil, apierr.MissingArgument("Missing uuid_user")
	case r.IdProject == 0 && r.IdSite == 0:
		return nil, apierr.MissingArgument("Missing arguments")
	case r.IdProject == 0:
		key, fn, col, obj, id = "site_role", "core.user_site_roles", "id_site", access.Sites, r.IdSite
	}
	m := caller(ctx)
	users, objects := m.acc.Users(), m.acc.IDs(obj)
	var role *string
	err := s.db.QueryRow(ctx, `SELECT ur.role FROM core.t_users u, `+fn+`(u.id_user) ur
		WHERE u.user_uuid = @uuid AND u.deleted_at IS NULL AND u.id_user IN (`+users.SQL+`)
		  AND ur.`+col+` = @id AND @id IN (`+objects.SQL+`)`,
		users.With(pgx.NamedArgs{"uuid": r.UuidUser, "id": id})).Scan(&role)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.SvcGetUserAccessResponse{Access: &structpb.Struct{Fields: map[string]*structpb.Value{key: nullable(role)}}}, nil
}
