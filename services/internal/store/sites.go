package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// SiteRow is a t_sites row with the caller's role on it (users only; nil for other principals).
type SiteRow struct {
	IDSite          int32   `db:"id_site"`
	SiteName        string  `db:"site_name"`
	Site2FARequired bool    `db:"site_2fa_required"`
	Role            *string `db:"site_role"`
}

// SiteFilter selects sites; nil fields do not filter.
type SiteFilter struct {
	IDSite *int32
	Name   *string
	// IDDevice keeps the sites the device is linked to.
	IDDevice *int32
	// UserUUID keeps the sites where that user holds a role.
	UserUUID *string
	// IDUser keeps the sites where that user holds a role, if the scope sees the user.
	IDUser *int32
}

const listSitesSQL = `
SELECT s.id_site, s.site_name, s.site_2fa_required, r.role AS site_role
  FROM core.t_sites s
  LEFT JOIN core.user_site_roles(@acc_id::integer) r ON r.id_site = s.id_site AND @acc_kind::text = 'user'
 WHERE s.deleted_at IS NULL
   AND s.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_site::integer IS NULL OR s.id_site = @id_site)
   AND (@name::text IS NULL OR s.site_name = @name)
   AND (@id_device::integer IS NULL OR s.id_site IN
        (SELECT ds.id_site FROM core.t_devices_sites ds WHERE ds.id_device = @id_device AND ds.deleted_at IS NULL))
   AND (@user_uuid::text IS NULL OR s.id_site IN
        (SELECT ur.id_site FROM core.t_users u, core.user_site_roles(u.id_user) ur
          WHERE u.user_uuid = @user_uuid AND u.deleted_at IS NULL))
   AND (@id_user::integer IS NULL OR (s.id_site IN (SELECT ur.id_site FROM core.user_site_roles(@id_user) ur)
        AND @id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, false))))
 ORDER BY s.id_site`

// ListSites returns the sites of the scope that match f, by id.
func ListSites(ctx context.Context, db DB, scope access.Scope, f SiteFilter) ([]SiteRow, error) {
	return list[SiteRow](ctx, db, "list sites", listSitesSQL, scope, pgx.NamedArgs{
		"id_site": f.IDSite, "name": f.Name, "id_device": f.IDDevice, "user_uuid": f.UserUUID, "id_user": f.IDUser})
}

// SitePatch is a partial update of a site; nil fields are left unchanged.
type SitePatch struct {
	SiteName        *string
	Site2FARequired *bool
}

func (p SitePatch) args() pgx.NamedArgs {
	return pgx.NamedArgs{"site_name": p.SiteName, "site_2fa_required": p.Site2FARequired}
}

const insertSiteSQL = `
INSERT INTO core.t_sites (site_name, site_2fa_required)
SELECT @site_name, coalesce(@site_2fa_required::boolean, false)
 WHERE core.is_superadmin(@acc_kind::text, @acc_id::integer)
RETURNING id_site, site_name, site_2fa_required, NULL::text AS site_role`

// InsertSite creates a site; only a superadmin's scope may (ErrNotFound otherwise).
func InsertSite(ctx context.Context, db DB, scope access.Scope, p SitePatch) (SiteRow, error) {
	return one[SiteRow](ctx, db, "insert site", insertSiteSQL, scope, p.args())
}

const updateSiteSQL = `
UPDATE core.t_sites
   SET site_name = coalesce(@site_name, site_name),
       site_2fa_required = coalesce(@site_2fa_required, site_2fa_required)
 WHERE id_site = @id_site AND deleted_at IS NULL
   AND id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
RETURNING id_site, site_name, site_2fa_required, NULL::text AS site_role`

// UpdateSite changes a site the scope covers (ErrNotFound otherwise).
func UpdateSite(ctx context.Context, db DB, scope access.Scope, id int32, p SitePatch) (SiteRow, error) {
	args := p.args()
	args["id_site"] = id
	return one[SiteRow](ctx, db, "update site", updateSiteSQL, scope, args)
}
