package core

import (
	"context"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/authn"
)

// /api/service/*: OpenTera's service API. A second surface over the same store queries as the
// user API: the caller is the service (access.FromAuthn maps it), so every query is scoped by
// the service branch of the SQL access functions (its linked sites and projects, what they
// hold, its session types and sessions). Its handlers stand beside the user API's in each
// resource's file (sites.go holds SvcGetSites).

type serviceAPI struct {
	*Service
	corev1.UnimplementedServiceApiServiceServer
}

// serviceID is the calling service's id_service (0 for any other principal, which the declared
// access never lets through).
func serviceID(ctx context.Context) int32 {
	if c := authn.FromContext(ctx); c != nil && c.Kind == authn.KindService {
		return int32(c.ID)
	}
	return 0
}
