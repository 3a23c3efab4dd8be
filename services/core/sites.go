package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/sites

type sites struct {
	*Service
	corev1.UnimplementedSiteServiceServer
}

func (s *sites) GetSites(ctx context.Context, r *corev1.GetSitesRequest) (*corev1.GetSitesResponse, error) {
	m := caller(ctx)
	if r.Id != 0 {
		r.IdSite = r.Id
	}
	args := pgx.NamedArgs{"me": m.id}
	var where string
	switch {
	case r.UserUuid != "":
		// Sites of that user that the caller also sees.
		where = `s.id_site IN (SELECT ur.id_site FROM core.t_users u, core.user_site_roles(u.id_user) ur
		                        WHERE u.user_uuid = @uuid AND u.deleted_at IS NULL)`
		args["uuid"] = r.UserUuid
	case r.IdSite != 0:
		where, args["id"] = "s.id_site = @id", r.IdSite
	case r.IdDevice != 0:
		where = "s.id_site IN (SELECT ds.id_site FROM core.t_devices_sites ds WHERE ds.id_device = @dev AND ds.deleted_at IS NULL)"
		args["dev"] = r.IdDevice
	case r.Name != "":
		where, args["name"] = "s.site_name = @name", r.Name
	default:
		where = "true"
	}
	rows, err := s.db.Query(ctx, `
		SELECT s.id_site, s.site_name, s.site_2fa_required, r.role
		  FROM core.t_sites s JOIN core.user_site_roles(@me) r ON r.id_site = s.id_site
		 WHERE s.deleted_at IS NULL AND `+where+` ORDER BY s.id_site`, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.Site, error) {
		st := &corev1.Site{}
		var role string
		if err := row.Scan(&st.IdSite, &st.SiteName, &st.Site_2FaRequired, &role); err != nil {
			return nil, err
		}
		st.SiteRole = &role
		if r.IdDevice != 0 && r.UserUuid == "" && r.IdSite == 0 {
			st.IdDevice = &r.IdDevice
		}
		return st, nil
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetSitesResponse{Sites: out}, nil
}

func (s *sites) PostSite(ctx context.Context, r *corev1.PostSiteRequest) (*corev1.PostSiteResponse, error) {
	m := caller(ctx)
	b := r.GetSite()
	if b == nil {
		return nil, apierr.MissingArgument("Missing site")
	}
	if b.IdSite == nil {
		return nil, apierr.MissingArgument("Missing id_site field")
	}
	c := newChanges()
	if b.SiteName != nil {
		if strings.TrimSpace(*b.SiteName) == "" {
			return nil, apierr.InvalidArgument("Invalid site_name")
		}
		c.set("site_name", *b.SiteName)
	}
	if b.Site_2FaRequired != nil {
		c.set("site_2fa_required", *b.Site_2FaRequired)
	}
	id := b.GetIdSite()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if id > 0 {
			err := s.require(ctx, tx, m, access.Sites, id, true, "Forbidden")
			if err != nil {
				return err
			}
			if len(c.cols) == 0 {
				return nil
			}
			_, err = tx.Exec(ctx, "UPDATE core.t_sites SET "+c.setSQL()+" WHERE id_site = @id AND deleted_at IS NULL",
				merge(c.args, pgx.NamedArgs{"id": id}))
			return err
		}
		if !m.superadmin {
			return apierr.Forbidden("Forbidden")
		}
		if !c.has("site_name") {
			return apierr.MissingArgument("Missing site_name")
		}
		return tx.QueryRow(ctx, "INSERT INTO core.t_sites "+c.insertSQL()+" RETURNING id_site", c.args).Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	st := &corev1.Site{}
	err = s.db.QueryRow(ctx, "SELECT id_site, site_name, site_2fa_required FROM core.t_sites WHERE id_site = $1", id).
		Scan(&st.IdSite, &st.SiteName, &st.Site_2FaRequired)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostSiteResponse{Sites: []*corev1.Site{st}}, nil
}

func (s *sites) DeleteSite(ctx context.Context, r *corev1.DeleteSiteRequest) (*corev1.DeleteSiteResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	// Superadmin only (declared on the RPC); the schema cascades and refuses.
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE core.t_sites SET deleted_at = now() WHERE id_site = $1 AND deleted_at IS NULL", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteSiteResponse{}, nil
}

func merge(a, b pgx.NamedArgs) pgx.NamedArgs {
	out := make(pgx.NamedArgs, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
