package core

import (
	"context"
	"encoding/json"
	"errors"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/jackc/pgx/v5"
	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
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
	// The group wins over the user (the store's order).
	f := store.MembershipFilter{IDUserGroup: nonZero(r.IdUserGroup), IDUser: nonZero(r.IdUser), WithEmpty: r.WithEmpty}
	if f.IDUserGroup == nil && f.IDUser == nil {
		return nil, apierr.MissingArgument("At least one id must be specified")
	}
	rows, err := store.ListMemberships(ctx, s.db, caller(ctx).acc, f)
	out, err := mapRows(ctx, s.Service, rows, err, func(l store.MembershipRow) *corev1.UserUserGroup {
		g := &corev1.UserUserGroup{IdUserUserGroup: numOrNull(l.ID), IdUser: numOrNull(l.IDUser), IdUserGroup: numOrNull(l.IDUserGroup)}
		if !r.List {
			g.UserFullname, g.UserGroupName = nullable(l.UserFullname), nullable(l.UserGroupName)
		}
		return g
	})
	return reply(&corev1.GetUserUserGroupsResponse{UserUserGroups: out}, err)
}

// membershipLinks reads {"user_user_group": {id_user, id_user_group}} or a list of them.
func membershipLinks(v *structpb.Value) ([][2]int32, error) {
	objs := []*structpb.Value{v}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
	case *structpb.Value_ListValue:
		objs = k.ListValue.GetValues()
	case nil:
		return nil, apierr.MissingArgument("Missing user_user_group")
	default:
		return nil, apierr.InvalidArgument("Invalid user_user_group")
	}
	links := make([][2]int32, len(objs))
	for i, o := range objs {
		if o.GetStructValue() == nil {
			return nil, apierr.InvalidArgument("Invalid user_user_group")
		}
		for j, key := range []string{"id_user", "id_user_group"} {
			v, ok := o.GetStructValue().GetFields()[key]
			if !ok {
				return nil, apierr.MissingArgument("Missing " + key)
			}
			n, isNum := v.GetKind().(*structpb.Value_NumberValue)
			if !isNum || n.NumberValue != float64(int32(n.NumberValue)) {
				return nil, apierr.InvalidArgument("Invalid " + key)
			}
			links[i][j] = int32(n.NumberValue)
		}
	}
	return links, nil
}

// checkMembership answers what the caller may not do with a (user, group) pair, in OpenTera's
// order (user, group, then for a new link a superadmin user); what names the link ("specified
// user" or "relationship's user").
func checkMembership(ctx context.Context, db store.DB, m me, u, g int32, what string, adding bool) error {
	a, err := store.CheckMembership(ctx, db, m.acc, u, g)
	switch {
	case err != nil:
		return err
	case !a.User:
		return apierr.Forbidden("No access to " + what)
	case !a.Group:
		return apierr.Forbidden("No access to " + what + " group")
	case adding && a.Superadmin:
		return apierr.InvalidArgument("Super admins can't be associated to an user group")
	}
	return nil
}

func (s *userUserGroups) PostUserUserGroup(ctx context.Context, r *corev1.PostUserUserGroupRequest) (*corev1.PostUserUserGroupResponse, error) {
	m := caller(ctx)
	links, err := membershipLinks(r.GetUserUserGroup())
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.UserUserGroup, len(links))
	err = s.write(ctx, func(tx store.DB) error {
		for _, l := range links {
			if err := checkMembership(ctx, tx, m, l[0], l[1], "specified user", true); err != nil {
				return err
			}
		}
		for i, l := range links {
			id, err := store.InsertMembership(ctx, tx, m.acc, l[0], l[1])
			if err != nil {
				return err
			}
			out[i] = &corev1.UserUserGroup{IdUserUserGroup: numOrNull(&id), IdUser: numOrNull(&l[0]), IdUserGroup: numOrNull(&l[1])}
		}
		return nil
	})
	return reply(&corev1.PostUserUserGroupResponse{UserUserGroups: out}, err)
}

func (s *userUserGroups) DeleteUserUserGroup(ctx context.Context, r *corev1.DeleteUserUserGroupRequest) (*corev1.DeleteUserUserGroupResponse, error) {
	m := caller(ctx)
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		u, g, err := store.Membership(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Can't delete specified relationship")
		}
		if err == nil {
			err = checkMembership(ctx, tx, m, u, g, "relationship's user", false)
		}
		if err != nil {
			return err
		}
		return store.DeleteMembership(ctx, tx, m.acc, id)
	})
	return reply(&corev1.DeleteUserUserGroupResponse{}, err)
}

// The scope of id_user is declared on both preference RPCs: read for GET, admin for POST.

func (s *userPreferences) GetUserPreferences(ctx context.Context, r *corev1.GetUserPreferencesRequest) (*corev1.GetUserPreferencesResponse, error) {
	m := caller(ctx)
	user := m.id
	if r.IdUser != 0 {
		user = r.IdUser
	}
	rows, err := store.ListUserPreferences(ctx, s.db, m.acc, user, r.AppTag)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.UserPreference, len(rows))
	for i, p := range rows {
		out[i] = &corev1.UserPreference{IdUserPreference: p.ID, IdUser: p.IDUser, UserPreferenceAppTag: p.AppTag, UserPreferencePreference: p.Preference}
	}
	return &corev1.GetUserPreferencesResponse{UserPreferences: out}, nil
}

func (s *userPreferences) PostUserPreference(ctx context.Context, r *corev1.PostUserPreferenceRequest) (*corev1.PostUserPreferenceResponse, error) {
	m := caller(ctx)
	b := r.GetUserPreference()
	app, err := bodyKey(b, func(b *corev1.UserPreferenceBody) *string { return b.UserPreferenceAppTag }, "user_preference", "app tag")
	if err != nil {
		return nil, err
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
	var row *store.UserPreferenceRow
	err = s.write(ctx, func(tx store.DB) (err error) {
		row, err = store.SetUserPreference(ctx, tx, m.acc, user, app, pref)
		return orDenied(err, "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	if row == nil {
		respondNull(ctx)
		return &corev1.PostUserPreferenceResponse{}, nil
	}
	return &corev1.PostUserPreferenceResponse{UserPreference: &corev1.UserPreference{IdUserPreference: row.ID, IdUser: row.IDUser,
		UserPreferenceAppTag: row.AppTag, UserPreferencePreference: row.Preference}}, nil
}
