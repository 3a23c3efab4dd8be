package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/sites

type sites struct {
	*Service
	corev1.UnimplementedSiteServiceServer
}

func (s *sites) GetSites(ctx context.Context, r *corev1.GetSitesRequest) (*corev1.GetSitesResponse, error) {
	alias(&r.IdSite, r.Id)
	// One selector is honoured, in OpenTera's order.
	var f store.SiteFilter
	switch {
	case r.UserUuid != "":
		f.UserUUID = &r.UserUuid
	case r.IdSite != 0:
		f.IDSite = &r.IdSite
	case r.IdDevice != 0:
		f.IDDevice = &r.IdDevice
	case r.Name != "":
		f.Name = &r.Name
	}
	rows, err := store.ListSites(ctx, s.db, caller(ctx).acc, f)
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.SiteRow) *corev1.Site {
		st := siteProto(row)
		st.IdDevice = f.IDDevice // the device selected, if any
		return st
	})
	return reply(&corev1.GetSitesResponse{Sites: out}, err)
}

func siteProto(r store.SiteRow) *corev1.Site {
	return &corev1.Site{IdSite: r.IDSite, SiteName: r.SiteName, Site_2FaRequired: r.Site2FARequired, SiteRole: r.Role}
}

func (s *sites) PostSite(ctx context.Context, r *corev1.PostSiteRequest) (*corev1.PostSiteResponse, error) {
	m := caller(ctx)
	b := r.GetSite()
	if _, err := bodyKey(b, func(b *corev1.SiteBody) *int32 { return b.IdSite }, "site", "id_site field"); err != nil {
		return nil, err
	}
	switch {
	case b.SiteName != nil && strings.TrimSpace(*b.SiteName) == "":
		return nil, apierr.InvalidArgument("Invalid site_name")
	case b.GetIdSite() == 0 && b.SiteName == nil:
		return nil, apierr.MissingArgument("Missing site_name")
	}
	patch := store.SitePatch{SiteName: b.SiteName, Site2FARequired: b.Site_2FaRequired}
	var row store.SiteRow
	err := s.inTx(ctx, func(tx pgx.Tx) (err error) {
		switch {
		case b.GetIdSite() == 0:
			row, err = store.InsertSite(ctx, tx, m.acc, patch)
		case patch == store.SitePatch{}:
			row, err = s.oneSite(ctx, tx, m, b.GetIdSite())
		default:
			row, err = store.UpdateSite(ctx, tx, m.acc.AdminOnly(), b.GetIdSite(), patch)
		}
		return orDenied(err, "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	row.Role = nil
	return &corev1.PostSiteResponse{Sites: []*corev1.Site{siteProto(row)}}, nil
}

// oneSite is a site the caller administers (ErrNotFound otherwise).
func (s *sites) oneSite(ctx context.Context, db store.DB, m me, id int32) (store.SiteRow, error) {
	rows, err := store.ListSites(ctx, db, m.acc.AdminOnly(), store.SiteFilter{IDSite: &id})
	if err != nil || len(rows) == 0 {
		return store.SiteRow{}, orNotFound(err)
	}
	return rows[0], nil
}

func (s *sites) DeleteSite(ctx context.Context, r *corev1.DeleteSiteRequest) (*corev1.DeleteSiteResponse, error) {
	return &corev1.DeleteSiteResponse{}, s.softDelete(ctx, store.Sites, r.Id)
}

// ---- /api/service/sites

func (s *serviceAPI) SvcGetSites(ctx context.Context, r *corev1.SvcGetSitesRequest) (*corev1.SvcGetSitesResponse, error) {
	var f store.SiteFilter
	switch {
	case r.IdSite != 0:
		f.IDSite = &r.IdSite // declared: 403 outside the service's sites
	case r.IdUser != 0:
		f.IDUser = &r.IdUser
	}
	rows, err := store.ListSites(ctx, s.db, caller(ctx).acc, f)
	out, err := mapRows(ctx, s.Service, rows, err, siteProto)
	return reply(&corev1.SvcGetSitesResponse{Sites: out}, err)
}
