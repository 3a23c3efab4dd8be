package core

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/users/usergroups and /api/user/users/preferences

type userUserGroups struct {
	*Service
	corev1.UnimplementedUserUserGroupServiceServer
}

type userPreferences struct {
	*Service
	corev1.UnimplementedUserPreferenceServiceServer
}

func numOrNull(p *int32) *structpb.Value {
	if p == nil {
		return structpb.NewNullValue()
	}
	return structpb.NewNumberValue(float64(*p))
}

func (s *userUserGroups) GetUserUserGroups(ctx context.Context, r *corev1.GetUserUserGroupsRequest) (*corev1.GetUserUserGroupsResponse, error) {
	m := caller(ctx)
	uf, gf := m.acc.Users(), m.acc.UserGroups()
	args := merge(uf.Args, gf.Args)
	var q string
	switch {
	case r.IdUserGroup != 0:
		args["g"] = r.IdUserGroup
		q = `SELECT uug.id_user_user_group, u.id_user, CASE WHEN uug.id_user_user_group IS NULL THEN NULL ELSE @g::int END,
		            u.user_firstname || ' ' || u.user_lastname,
		            CASE WHEN uug.id_user_user_group IS NULL THEN NULL ELSE (SELECT user_group_name FROM core.t_users_groups WHERE id_user_group = @g) END
		       FROM core.t_users u
		       LEFT JOIN core.t_users_users_groups uug ON uug.id_user = u.id_user AND uug.id_user_group = @g AND uug.deleted_at IS NULL
		      WHERE u.deleted_at IS NULL AND u.id_user IN (` + uf.SQL + `) AND @g IN (` + gf.SQL + `)
		        AND (uug.id_user_user_group IS NOT NULL OR @empty)
		      ORDER BY uug.id_user_user_group NULLS LAST, u.id_user`
	case r.IdUser != 0:
		args["u"] = r.IdUser
		q = `SELECT uug.id_user_user_group, CASE WHEN uug.id_user_user_group IS NULL THEN NULL ELSE @u::int END, g.id_user_group,
		            CASE WHEN uug.id_user_user_group IS NULL THEN NULL ELSE (SELECT user_firstname || ' ' || user_lastname FROM core.t_users WHERE id_user = @u) END,
		            g.user_group_name
		       FROM core.t_users_groups g
		       LEFT JOIN core.t_users_users_groups uug ON uug.id_user_group = g.id_user_group AND uug.id_user = @u AND uug.deleted_at IS NULL
		      WHERE g.deleted_at IS NULL AND g.id_user_group IN (` + gf.SQL + `) AND @u IN (` + uf.SQL + `)
		        AND (uug.id_user_user_group IS NOT NULL OR @empty)
		      ORDER BY uug.id_user_user_group NULLS LAST, g.id_user_group`
	default:
		return nil, apierr.MissingArgument("At least one id must be specified")
	}
	args["empty"] = r.WithEmpty
	rows, err := s.db.Query(ctx, q, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.UserUserGroup, error) {
		var id, u, g *int32
		var uname, gname *string
		if err := row.Scan(&id, &u, &g, &uname, &gname); err != nil {
			return nil, err
		}
		x := &corev1.UserUserGroup{IdUserUserGroup: numOrNull(id), IdUser: numOrNull(u), IdUserGroup: numOrNull(g)}
		if !r.List {
			x.UserFullname, x.UserGroupName = nullable(uname), nullable(gname)
		}
		return x, nil
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetUserUserGroupsResponse{UserUserGroups: out}, nil
}

func (s *userUserGroups) PostUserUserGroup(ctx context.Context, r *corev1.PostUserUserGroupRequest) (*corev1.PostUserUserGroupResponse, error) {
	m := caller(ctx)
	var objs []*structpb.Value
	switch k := r.GetUserUserGroup().GetKind().(type) {
	case *structpb.Value_StructValue:
		objs = []*structpb.Value{r.UserUserGroup}
	case *structpb.Value_ListValue:
		objs = k.ListValue.GetValues()
	case nil:
		return nil, apierr.MissingArgument("Missing user_user_group")
	default:
		return nil, apierr.InvalidArgument("Invalid user_user_group")
	}
	type link struct{ u, g int32 }
	var links []link
	for _, o := range objs {
		f := o.GetStructValue().GetFields()
		if o.GetStructValue() == nil {
			return nil, apierr.InvalidArgument("Invalid user_user_group")
		}
		var l link
		for _, k := range []struct {
			key string
			dst *int32
		}{{"id_user", &l.u}, {"id_user_group", &l.g}} {
			v, ok := f[k.key]
			if !ok {
				return nil, apierr.MissingArgument("Missing " + k.key)
			}
			n, isNum := v.GetKind().(*structpb.Value_NumberValue)
			if !isNum || n.NumberValue != float64(int32(n.NumberValue)) {
				return nil, apierr.InvalidArgument("Invalid " + k.key)
			}
			*k.dst = int32(n.NumberValue)
		}
		links = append(links, l)
	}
	var out []*corev1.UserUserGroup
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, l := range links {
			if ok, err := s.can(ctx, tx, m, access.Users, l.u, true); err != nil {
				return err
			} else if !ok {
				return apierr.Forbidden("No access to specified user")
			}
			if ok, err := s.canGrant(ctx, tx, m, l.g); err != nil {
				return err
			} else if !ok {
				return apierr.Forbidden("No access to specified user group")
			}
			var super bool
			if err := tx.QueryRow(ctx, "SELECT user_superadmin FROM core.t_users WHERE id_user = $1", l.u).Scan(&super); err != nil {
				return err
			}
			if super {
				return apierr.InvalidArgument("Super admins can't be associated to an user group")
			}
		}
		for _, l := range links {
			var id int32
			if err := tx.QueryRow(ctx, `INSERT INTO core.t_users_users_groups AS x (id_user, id_user_group) VALUES ($1, $2)
				ON CONFLICT (id_user, id_user_group) DO UPDATE SET deleted_at = NULL RETURNING id_user_user_group`, l.u, l.g).Scan(&id); err != nil {
				return err
			}
			out = append(out, &corev1.UserUserGroup{IdUserUserGroup: numOrNull(&id), IdUser: numOrNull(&l.u), IdUserGroup: numOrNull(&l.g)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostUserUserGroupResponse{UserUserGroups: out}, nil
}

func (s *userUserGroups) DeleteUserUserGroup(ctx context.Context, r *corev1.DeleteUserUserGroupRequest) (*corev1.DeleteUserUserGroupResponse, error) {
	m := caller(ctx)
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var u, g int32
		err := tx.QueryRow(ctx, "SELECT id_user, id_user_group FROM core.t_users_users_groups WHERE id_user_user_group = $1 AND deleted_at IS NULL", r.GetId()).Scan(&u, &g)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierr.InvalidArgument("Can't delete specified relationship")
		}
		if err != nil {
			return err
		}
		if ok, err := s.can(ctx, tx, m, access.Users, u, true); err != nil {
			return err
		} else if !ok {
			return apierr.Forbidden("No access to relationship's user")
		}
		if ok, err := s.canGrant(ctx, tx, m, g); err != nil {
			return err
		} else if !ok {
			return apierr.Forbidden("No access to relationship's user group")
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_users_users_groups SET deleted_at = now() WHERE id_user_user_group = $1", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteUserUserGroupResponse{}, nil
}

func (s *userPreferences) GetUserPreferences(ctx context.Context, r *corev1.GetUserPreferencesRequest) (*corev1.GetUserPreferencesResponse, error) {
	m := caller(ctx)
	user := m.id
	if r.IdUser != 0 {
		ok, err := s.can(ctx, s.db, m, access.Users, r.IdUser, false)
		if err != nil {
			return nil, err
		}
		if !ok && r.IdUser != m.id {
			return nil, apierr.Forbidden("Forbidden")
		}
		user = r.IdUser
	}
	rows, err := s.db.Query(ctx, `SELECT id_user_preference, id_user, user_preference_app_tag, user_preference_preference
		FROM core.t_users_preferences WHERE id_user = $1 AND ($2 = '' OR user_preference_app_tag = $2) ORDER BY id_user_preference`, user, r.AppTag)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.UserPreference, error) {
		p := &corev1.UserPreference{}
		return p, row.Scan(&p.IdUserPreference, &p.IdUser, &p.UserPreferenceAppTag, &p.UserPreferencePreference)
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetUserPreferencesResponse{UserPreferences: out}, nil
}

func (s *userPreferences) PostUserPreference(ctx context.Context, r *corev1.PostUserPreferenceRequest) (*corev1.PostUserPreferenceResponse, error) {
	m := caller(ctx)
	b := r.GetUserPreference()
	if b == nil {
		return nil, apierr.MissingArgument("Missing user_preference")
	}
	if b.UserPreferenceAppTag == nil {
		return nil, apierr.MissingArgument("Missing app tag")
	}
	user := m.id
	if b.IdUser != nil {
		user = b.GetIdUser()
	}
	var pref string
	switch k := b.UserPreferencePreference.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
	case *structpb.Value_StringValue:
		if k.StringValue != "" && !json.Valid([]byte(k.StringValue)) {
			return nil, apierr.InvalidArgument("Invalid preference: not JSON")
		}
		pref = k.StringValue
	case *structpb.Value_StructValue:
		j, _ := json.Marshal(k.StructValue.AsMap())
		pref = string(j)
	default:
		return nil, apierr.InvalidArgument("Invalid preference")
	}
	var out *corev1.UserPreference
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if user != m.id {
			if err := s.require(ctx, tx, m, access.Users, user, true, "Forbidden"); err != nil {
				return err
			}
		}
		if pref == "" {
			_, err := tx.Exec(ctx, "DELETE FROM core.t_users_preferences WHERE id_user = $1 AND user_preference_app_tag = $2", user, b.GetUserPreferenceAppTag())
			return err
		}
		out = &corev1.UserPreference{}
		return tx.QueryRow(ctx, `INSERT INTO core.t_users_preferences (id_user, user_preference_app_tag, user_preference_preference)
			VALUES ($1, $2, $3) ON CONFLICT (id_user, user_preference_app_tag) DO UPDATE SET user_preference_preference = EXCLUDED.user_preference_preference
			RETURNING id_user_preference, id_user, user_preference_app_tag, user_preference_preference`, user, b.GetUserPreferenceAppTag(), pref).
			Scan(&out.IdUserPreference, &out.IdUser, &out.UserPreferenceAppTag, &out.UserPreferencePreference)
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		respondNull(ctx)
	}
	return &corev1.PostUserPreferenceResponse{UserPreference: out}, nil
}

// canGrant reports whether the caller may add users to or remove users from a group: a
// membership hands out every role of the group, so the caller must administer all of them.
func (s *Service) canGrant(ctx context.Context, q access.Querier, m me, group int32) (bool, error) {
	f := m.acc.GrantableUserGroups()
	var ok bool
	if err := q.QueryRow(ctx, "SELECT EXISTS ("+f.SQL+" WHERE id = @group)", f.With(pgx.NamedArgs{"group": group})).Scan(&ok); err != nil {
		return false, s.internal(ctx, err)
	}
	return ok, nil
}
