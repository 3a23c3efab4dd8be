package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

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

const userCols = `u.id_user, u.user_uuid, u.user_username, u.user_email, u.user_firstname, u.user_lastname, u.user_enabled,
	u.user_profile, u.user_notes, u.user_lastonline, u.user_superadmin, u.user_2fa_enabled, u.user_2fa_otp_enabled,
	u.user_2fa_email_enabled, u.user_force_password_change`

func scanUser(row pgx.Row, minimal bool) (*corev1.User, error) {
	u := &corev1.User{}
	var username, profile string
	var email, notes *string
	var lastonline *time.Time
	var otp, mail, force bool
	if err := row.Scan(&u.IdUser, &u.UserUuid, &username, &email, &u.UserFirstname, &u.UserLastname, &u.UserEnabled,
		&profile, &notes, &lastonline, &u.UserSuperadmin, &u.User_2FaEnabled, &otp, &mail, &force); err != nil {
		return nil, err
	}
	u.UserName = u.UserFirstname + " " + u.UserLastname
	if minimal {
		return u, nil
	}
	u.UserUsername, u.UserProfile = &username, &profile
	u.UserEmail, u.UserNotes, u.UserLastonline = nullable(email), nullable(notes), nullable(isoTime(lastonline))
	u.User_2FaOtpEnabled, u.User_2FaEmailEnabled, u.UserForcePasswordChange = &otp, &mail, &force
	return u, nil
}

func (s *users) GetUsers(ctx context.Context, r *corev1.GetUsersRequest) (*corev1.GetUsersResponse, error) {
	m := caller(ctx)
	if r.Uuid != "" {
		r.UserUuid = r.Uuid
	}
	if r.Id != 0 {
		r.IdUser = r.Id
	}
	f := m.acc.Users()
	args := f.With(pgx.NamedArgs{"me": m.id})
	var where string
	switch {
	case r.UserUuid != "":
		where, args["uuid"] = "u.user_uuid = @uuid AND u.id_user IN ("+f.SQL+")", r.UserUuid
	case r.IdUser != 0:
		where, args["id"] = "u.id_user = @id AND u.id_user IN ("+f.SQL+")", r.IdUser
	case r.IdProject != 0:
		pf := m.acc.Projects()
		args = pf.With(args)
		// The project's users, superadmins excepted (OpenTera's query_users_for_project): a
		// superadmin is no member of a project, and naming it would reveal it to everyone.
		where = `@project IN (` + pf.SQL + `) AND u.user_enabled AND NOT u.user_superadmin
		         AND EXISTS (SELECT 1 FROM core.user_project_roles(u.id_user) ur WHERE ur.id_project = @project)`
		args["project"] = r.IdProject
	case r.Self != nil:
		where = "u.id_user = @me"
	case r.Username != "":
		where, args["username"] = "u.user_username = @username AND u.id_user IN ("+f.SQL+")", r.Username
	case r.IdUserGroup != 0:
		gf := m.acc.UserGroups()
		args = gf.With(args)
		where = `@group IN (` + gf.SQL + `) AND u.id_user IN (SELECT uug.id_user FROM core.t_users_users_groups uug
		          WHERE uug.id_user_group = @group AND uug.deleted_at IS NULL)`
		args["group"] = r.IdUserGroup
	default:
		where = "u.id_user IN (" + f.SQL + ")"
	}
	if r.Enabled != nil {
		where += " AND u.user_enabled = @enabled"
		args["enabled"] = r.GetEnabled()
	}
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM core.t_users u WHERE u.deleted_at IS NULL AND `+where+` ORDER BY u.id_user`, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.User, error) { return scanUser(row, r.List) })
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	for _, u := range out {
		if !r.List && u.IdUser == m.id {
			if err := s.addRoles(ctx, m, u); err != nil {
				return nil, err
			}
		}
		if r.WithUsergroups {
			if u.UserUserGroups, err = s.userGroupsOf(ctx, u.IdUser); err != nil {
				return nil, err
			}
		}
		if r.WithStatus {
			online, busy := s.presence.Online(presence.User, u.UserUuid), s.presence.Busy(presence.User, u.UserUuid)
			u.UserOnline, u.UserBusy = &online, &busy
		}
	}
	return &corev1.GetUsersResponse{Users: out}, nil
}

// addRoles adds the caller's sites and projects with its roles to its own entry.
func (s *users) addRoles(ctx context.Context, m me, u *corev1.User) error {
	st, err := (&sites{Service: s.Service}).GetSites(ctx, &corev1.GetSitesRequest{})
	if err != nil {
		return err
	}
	pr, err := (&projects{Service: s.Service}).GetProjects(ctx, &corev1.GetProjectsRequest{})
	if err != nil {
		return err
	}
	u.Sites, u.Projects = &structpb.ListValue{}, &structpb.ListValue{}
	for _, x := range st.Sites {
		v, err := messageValue(x)
		if err != nil {
			return s.internal(ctx, err)
		}
		u.Sites.Values = append(u.Sites.Values, v)
	}
	for _, x := range pr.Projects {
		v, err := messageValue(x)
		if err != nil {
			return s.internal(ctx, err)
		}
		u.Projects.Values = append(u.Projects.Values, v)
	}
	return nil
}

// userGroupsOf lists a user's groups the caller can see (those with a role on one of its sites or
// their projects, a superset of the groups of its projects): a visible user may also belong to
// groups of sites the caller has no access to.
func (s *users) userGroupsOf(ctx context.Context, id int32) (*structpb.ListValue, error) {
	gf := caller(ctx).acc.SiteWide().UserGroups()
	rows, err := s.db.Query(ctx, `SELECT g.id_user_group, g.user_group_name FROM core.t_users_users_groups uug
		JOIN core.t_users_groups g ON g.id_user_group = uug.id_user_group AND g.deleted_at IS NULL
		WHERE uug.id_user = @id AND uug.deleted_at IS NULL AND g.id_user_group IN (`+gf.SQL+`)
		ORDER BY g.id_user_group`, gf.With(pgx.NamedArgs{"id": id}))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	defer rows.Close()
	out := &structpb.ListValue{}
	for rows.Next() {
		var gid int32
		var name string
		if err := rows.Scan(&gid, &name); err != nil {
			return nil, s.dbError(ctx, err)
		}
		out.Values = append(out.Values, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"id_user_group": structpb.NewNumberValue(float64(gid)), "user_group_name": structpb.NewStringValue(name)}}))
	}
	return out, s.dbError(ctx, rows.Err())
}

func (s *users) PostUser(ctx context.Context, r *corev1.PostUserRequest) (*corev1.PostUserResponse, error) {
	m := caller(ctx)
	b := r.GetUser()
	if b == nil {
		return nil, apierr.MissingArgument("Missing user")
	}
	if b.IdUser == nil {
		return nil, apierr.MissingArgument("Missing id_user")
	}
	id := b.GetIdUser()
	if id > 0 && b.UserUsername != nil {
		return nil, apierr.InvalidArgument("Username can't be modified")
	}
	c := newChanges()
	str := func(col string, v *string) {
		if v != nil {
			c.set(col, *v)
		}
	}
	str("user_username", b.UserUsername)
	str("user_email", b.UserEmail)
	str("user_firstname", b.UserFirstname)
	str("user_lastname", b.UserLastname)
	str("user_notes", b.UserNotes)
	for col, v := range map[string]*bool{"user_enabled": b.UserEnabled, "user_force_password_change": b.UserForcePasswordChange,
		"user_2fa_enabled": b.User_2FaEnabled} {
		if v != nil {
			c.set(col, *v)
		}
	}
	if b.UserSuperadmin != nil && (m.superadmin || b.GetUserSuperadmin()) {
		// Checked against the database in the transaction: only a superadmin sets the flag. A
		// false from anyone else is the value every user it may write already has (clients send
		// the whole form), so it is dropped rather than refused.
		c.set("user_superadmin", *b.UserSuperadmin)
	}
	if b.UserProfile != nil {
		switch k := b.UserProfile.GetKind().(type) {
		case *structpb.Value_StringValue:
			c.set("user_profile", k.StringValue)
		case *structpb.Value_StructValue:
			j, _ := json.Marshal(k.StructValue.AsMap())
			c.set("user_profile", string(j))
		default:
			return nil, apierr.InvalidArgument("Invalid user_profile")
		}
	}
	if b.UserPassword != nil && *b.UserPassword != "" {
		var weak *store.PasswordPolicyError
		if errors.As(store.CheckPasswordPolicy(*b.UserPassword, ""), &weak) {
			return nil, apierr.InvalidArgument(weak.Message)
		}
	}
	if b.UserUsername != nil && (len(*b.UserUsername) > 50 || strings.TrimSpace(*b.UserUsername) == "") {
		return nil, apierr.InvalidArgument("Invalid user_username")
	}
	groups, err := idList(b.UserUserGroups, "id_user_group")
	if err != nil {
		return nil, err
	}
	setGroups := b.UserUserGroups != nil
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if c.has("user_superadmin") {
			var super bool
			if err := tx.QueryRow(ctx, "SELECT core.is_superadmin('user', $1)", m.id).Scan(&super); err != nil {
				return err
			}
			if !super {
				return apierr.Forbidden("Only superadmins can change user_superadmin")
			}
		}
		if setGroups {
			gf := m.acc.GrantableUserGroups()
			var bad int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM unnest(@groups::int[]) w WHERE w NOT IN (`+gf.SQL+`)`,
				gf.With(pgx.NamedArgs{"groups": groups})).Scan(&bad); err != nil {
				return err
			}
			if bad > 0 {
				return apierr.Forbidden("No access for at a least one user group in the list")
			}
		}
		if id > 0 {
			var old string
			// The row lock keeps the target as checked until the write commits.
			err := tx.QueryRow(ctx, "SELECT user_password FROM core.t_users WHERE id_user = $1 AND deleted_at IS NULL FOR UPDATE", id).Scan(&old)
			if errors.Is(err, pgx.ErrNoRows) {
				return apierr.InvalidArgument("Invalid id_user")
			}
			if err != nil {
				return err
			}
			// Self, a superadmin, or an admin of a site holding one of the user's groups; a
			// superadmin only by a superadmin (core.acc_users, admin-only form).
			if err := s.require(ctx, tx, m, access.Users, id, true, "Forbidden"); err != nil {
				return err
			}
			if b.UserPassword != nil && *b.UserPassword != "" {
				if bcrypt.CompareHashAndPassword([]byte(old), []byte(*b.UserPassword)) == nil {
					return apierr.InvalidArgument("New password same as old password")
				}
				h, err := bcrypt.GenerateFromPassword([]byte(*b.UserPassword), bcrypt.DefaultCost)
				if err != nil {
					return apierr.InvalidArgument("Invalid password")
				}
				c.set("user_password", string(h))
			}
			if len(c.cols) > 0 {
				if _, err := tx.Exec(ctx, "UPDATE core.t_users SET "+c.setSQL()+" WHERE id_user = @id", merge(c.args, pgx.NamedArgs{"id": id})); err != nil {
					return err
				}
			}
		} else {
			// A site admin creates users only into groups it administers: a user without groups
			// would be a superadmin's alone, out of its creator's reach.
			if !m.superadmin && len(groups) == 0 {
				return apierr.Forbidden("Forbidden")
			}
			var missing []string
			for _, col := range []string{"user_username", "user_firstname", "user_lastname", "user_enabled", "user_profile", "user_password"} {
				if col == "user_password" {
					if b.UserPassword == nil {
						missing = append(missing, col)
					}
				} else if !c.has(col) {
					missing = append(missing, col)
				}
			}
			if len(missing) > 0 {
				return apierr.MissingArgument("Missing required fields: " + strings.Join(missing, ", "))
			}
			if *b.UserPassword == "" {
				return apierr.InvalidArgument("Invalid password")
			}
			var taken bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM core.t_users WHERE user_username = $1)", *b.UserUsername).Scan(&taken); err != nil {
				return err
			}
			if taken {
				return apierr.Conflict("Username unavailable.")
			}
			h, err := bcrypt.GenerateFromPassword([]byte(*b.UserPassword), bcrypt.DefaultCost)
			if err != nil {
				return apierr.InvalidArgument("Invalid password")
			}
			c.set("user_password", string(h))
			c.set("user_uuid", uuid.NewString())
			if err := tx.QueryRow(ctx, "INSERT INTO core.t_users "+c.insertSQL()+" RETURNING id_user", c.args).Scan(&id); err != nil {
				return err
			}
		}
		if setGroups {
			return s.replaceGroups(ctx, tx, m, id, groups)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM core.t_users u WHERE u.id_user = $1`, id), false)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostUserResponse{Users: []*corev1.User{u}}, nil
}

// replaceGroups makes the user's groups the listed set, touching only the groups the caller may
// grant (access.GrantableUserGroups); superadmins never get groups.
func (s *users) replaceGroups(ctx context.Context, tx pgx.Tx, m me, id int32, groups []int32) error {
	var super bool
	if err := tx.QueryRow(ctx, "SELECT user_superadmin FROM core.t_users WHERE id_user = $1", id).Scan(&super); err != nil || super {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO core.t_users_users_groups AS l (id_user, id_user_group)
		SELECT DISTINCT @id::int, w FROM unnest(@groups::int[]) w
		ON CONFLICT (id_user, id_user_group) DO UPDATE SET deleted_at = NULL WHERE l.deleted_at IS NOT NULL`,
		pgx.NamedArgs{"id": id, "groups": groups}); err != nil {
		return err
	}
	gf := m.acc.GrantableUserGroups()
	_, err := tx.Exec(ctx, `UPDATE core.t_users_users_groups SET deleted_at = now()
		WHERE id_user = @id AND deleted_at IS NULL AND NOT (id_user_group = ANY(@groups::int[])) AND id_user_group IN (`+gf.SQL+`)`,
		gf.With(pgx.NamedArgs{"id": id, "groups": groups}))
	return err
}

func (s *users) DeleteUser(ctx context.Context, r *corev1.DeleteUserRequest) (*corev1.DeleteUserResponse, error) {
	m := caller(ctx)
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	id := r.GetId()
	if id == m.id {
		return nil, apierr.Forbidden("Sorry, you can't delete yourself!")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM core.t_users WHERE id_user = $1 AND deleted_at IS NULL FOR UPDATE)", id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return apierr.InvalidArgument("Invalid id")
		}
		// Same rule as the update (core.acc_users, admin-only form): a superadmin, or an admin of
		// a site holding one of the user's groups, and a superadmin only by a superadmin.
		if err := s.require(ctx, tx, m, access.Users, id, true, "Forbidden"); err != nil {
			return err
		}
		full := m.superadmin
		if !m.superadmin {
			gf := m.acc.AdminOnly().SiteWide().UserGroups()
			var others int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM core.t_users_users_groups uug WHERE uug.id_user = @id AND uug.deleted_at IS NULL
			            AND uug.id_user_group NOT IN (`+gf.SQL+`)`, gf.With(pgx.NamedArgs{"id": id})).Scan(&others); err != nil {
				return err
			}
			full = others == 0
			if !full {
				// Only take the user out of the caller's groups.
				_, err := tx.Exec(ctx, `UPDATE core.t_users_users_groups SET deleted_at = now()
					WHERE id_user = @id AND deleted_at IS NULL AND id_user_group IN (`+gf.SQL+`)`, gf.With(pgx.NamedArgs{"id": id}))
				return err
			}
		}
		_, err := tx.Exec(ctx, "UPDATE core.t_users SET deleted_at = now() WHERE id_user = $1 AND deleted_at IS NULL", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteUserResponse{}, nil
}
