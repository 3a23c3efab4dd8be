package core

import (
	"context"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
)

// objects maps the declared scope objects of (tera.options.v1.access) to the SQL access rules.
var objects = map[optionsv1.Object]access.Object{
	optionsv1.Object_OBJECT_SITE:              access.Sites,
	optionsv1.Object_OBJECT_PROJECT:           access.Projects,
	optionsv1.Object_OBJECT_PARTICIPANT_GROUP: access.ParticipantGroups,
	optionsv1.Object_OBJECT_PARTICIPANT:       access.Participants,
	optionsv1.Object_OBJECT_DEVICE:            access.Devices,
	optionsv1.Object_OBJECT_SESSION_TYPE:      access.SessionTypes,
	optionsv1.Object_OBJECT_SERVICE:           access.Services,
	optionsv1.Object_OBJECT_USER:              access.Users,
	optionsv1.Object_OBJECT_USER_GROUP:        access.UserGroups,
	optionsv1.Object_OBJECT_SESSION:           access.Sessions,
}

// HasPermission implements server.PermissionChecker: the declared permission of every core RPC
// with a scope_field is checked here, before its handler runs. ADMIN needs an admin role on the
// object (OpenTera's admin_only); READ and WRITE need it in the caller's scope (any role), the
// handler's scoped statements narrowing writes further.
func (s *Service) HasPermission(ctx context.Context, c *authn.Caller, perm optionsv1.Permission, obj optionsv1.Object, id int64) (bool, error) {
	o, ok := objects[obj]
	if !ok || id != int64(int32(id)) {
		return false, nil
	}
	scope := access.For(access.FromAuthn(c))
	if perm == optionsv1.Permission_PERMISSION_ADMIN {
		scope = scope.AdminOnly()
		if o == access.UserGroups {
			// A user group is administered by the admins of a site it holds a role on (directly
			// or through one of the site's projects).
			scope = scope.SiteWide()
		}
	}
	allowed, err := scope.Can(ctx, s.db, o, int32(id))
	if err != nil {
		return false, s.internal(ctx, err)
	}
	return allowed, nil
}
