package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// DeviceRow is a t_devices row without its certificate, with its subtype (when set) and, when
// asked for, its links as JSON arrays.
type DeviceRow struct {
	IDDevice         int32      `db:"id_device"`
	DeviceUUID       string     `db:"device_uuid"`
	DeviceName       string     `db:"device_name"`
	IDDeviceType     int32      `db:"id_device_type"`
	IDDeviceSubtype  *int32     `db:"id_device_subtype"`
	DeviceEnabled    bool       `db:"device_enabled"`
	DeviceToken      *string    `db:"device_token"`
	DeviceOnlineable bool       `db:"device_onlineable"`
	DeviceConfig     *string    `db:"device_config"`
	DeviceInfos      *string    `db:"device_infos"`
	DeviceNotes      *string    `db:"device_notes"`
	DeviceLastonline *time.Time `db:"device_lastonline"`
	SubtypeName      *string    `db:"subtype_name"`
	SubtypeType      *int32     `db:"subtype_type"`
	SubtypeParent    *string    `db:"subtype_parent"`
	// [{id_participant, participant_name, id_project, project_name}] of visible participants.
	Participants []byte `db:"participants"`
	// [{id_site, site_name, site_2fa_required}].
	Sites []byte `db:"sites"`
	// [{id_device_project, id_device, id_project, project: {…}}].
	Projects []byte `db:"projects"`
}

// DeviceFilter selects devices; nil fields do not filter. Site and Project need that site or
// project to be accessible.
type DeviceFilter struct {
	ID       *int32
	UUID     *string
	Site     *int32
	Project  *int32
	Type     *int32
	Subtype  *int32
	Name     *string
	Enabled  *bool
	ByName   bool // order by device_name (else by id)
	WithLink struct{ Participants, Sites, Projects bool }
}

const deviceCols = `
SELECT d.id_device, d.device_uuid, d.device_name, d.id_device_type, d.id_device_subtype, d.device_enabled, d.device_token,
       d.device_onlineable, d.device_config, d.device_infos, d.device_notes, d.device_lastonline,
       st.device_subtype_name AS subtype_name, st.id_device_type AS subtype_type, stt.device_type_name AS subtype_parent,
       CASE WHEN @with_participants::boolean THEN (SELECT coalesce(json_agg(json_build_object('id_participant', p.id_participant,
              'participant_name', p.participant_name, 'id_project', p.id_project, 'project_name', pr.project_name)
              ORDER BY p.id_participant), '[]')
         FROM core.t_devices_participants dp
         JOIN core.t_participants p ON p.id_participant = dp.id_participant AND p.deleted_at IS NULL
         JOIN core.t_projects pr ON pr.id_project = p.id_project
        WHERE dp.id_device = d.id_device AND dp.deleted_at IS NULL
          AND core.can_participants(@acc_kind::text, @acc_id::integer, false, p.id_participant)) END AS participants,
       -- Linked sites and projects the caller sees only: a device shared with another site must
       -- not name that site's projects (the matrix of services/internal/accessmatrix).
       CASE WHEN @with_sites::boolean THEN (SELECT coalesce(json_agg(json_build_object('id_site', s.id_site, 'site_name', s.site_name,
              'site_2fa_required', s.site_2fa_required) ORDER BY s.id_site), '[]')
         FROM core.t_devices_sites ds JOIN core.t_sites s ON s.id_site = ds.id_site AND s.deleted_at IS NULL
        WHERE ds.id_device = d.id_device AND ds.deleted_at IS NULL
          AND core.can_sites(@acc_kind::text, @acc_id::integer, false, s.id_site)) END AS sites,
       CASE WHEN @with_projects::boolean THEN (SELECT coalesce(json_agg(json_build_object('id_device_project', dp.id_device_project,
              'id_device', dp.id_device, 'id_project', dp.id_project, 'project', json_build_object('id_project', pr.id_project,
              'id_site', pr.id_site, 'project_name', pr.project_name, 'project_enabled', pr.project_enabled,
              'project_description', pr.project_description, 'site_name', s.site_name)) ORDER BY dp.id_device_project), '[]')
         FROM core.t_devices_projects dp
         JOIN core.t_projects pr ON pr.id_project = dp.id_project AND pr.deleted_at IS NULL
         JOIN core.t_sites s ON s.id_site = pr.id_site
        WHERE dp.id_device = d.id_device AND dp.deleted_at IS NULL
          AND core.can_projects(@acc_kind::text, @acc_id::integer, false, pr.id_project)) END AS projects
  FROM core.t_devices d
  LEFT JOIN core.t_devices_subtypes st ON st.id_device_subtype = d.id_device_subtype
  LEFT JOIN core.t_devices_types stt ON stt.id_device_type = st.id_device_type`

// devicesQuery is the SQL of ListDevices.
const devicesQuery = deviceCols + `
 WHERE d.deleted_at IS NULL
   AND d.id_device IN (SELECT id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id::integer IS NULL OR d.id_device = @id)
   AND (@uuid::text IS NULL OR d.device_uuid = @uuid)
   AND (@name::text IS NULL OR d.device_name = @name)
   AND (@type::integer IS NULL OR d.id_device_type = @type)
   AND (@subtype::integer IS NULL OR d.id_device_subtype = @subtype)
   AND (@enabled::boolean IS NULL OR d.device_enabled = @enabled)
   AND (@site::integer IS NULL OR (d.id_device IN (SELECT ds.id_device FROM core.t_devices_sites ds
          WHERE ds.id_site = @site AND ds.deleted_at IS NULL)
        AND core.can_sites(@acc_kind::text, @acc_id::integer, false, @site)))
   AND (@project::integer IS NULL OR (d.id_device IN (SELECT dp.id_device FROM core.t_devices_projects dp
          WHERE dp.id_project = @project AND dp.deleted_at IS NULL)
        AND core.can_projects(@acc_kind::text, @acc_id::integer, false, @project)))
 ORDER BY CASE WHEN @by_name::boolean THEN d.device_name END, d.id_device`

// devicesOfProject is ListDevices for a project alone (GET /api/user/devices?id_project=…): the
// selective predicate is a plain parameter, the access rules are one-object checks (core.can_*,
// planned once per connection) and only the filters set are written, so each combination is a
// statement whose generic plan PostgreSQL reuses instead of planning it on every call.
const devicesOfProject = deviceCols + `
 WHERE d.deleted_at IS NULL
   AND d.id_device IN (SELECT dp.id_device FROM core.t_devices_projects dp WHERE dp.id_project = @project AND dp.deleted_at IS NULL)
   AND core.can_projects(@acc_kind::text, @acc_id::integer, false, @project)
   AND core.can_devices(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, d.id_device)`

// ListDevices returns the devices of the scope that match f.
func ListDevices(ctx context.Context, db DB, scope access.Scope, f DeviceFilter) ([]DeviceRow, error) {
	return list[DeviceRow](ctx, db, "list devices", DevicesSQL(f), scope, deviceArgs(f))
}

// DevicesSQL is the statement ListDevices runs for f.
func DevicesSQL(f DeviceFilter) string {
	if f.Project != nil && f.ID == nil && f.UUID == nil && f.Site == nil && f.Subtype == nil && f.Name == nil {
		q := devicesOfProject
		if f.Type != nil {
			q += "\n   AND d.id_device_type = @type"
		}
		if f.Enabled != nil {
			q += "\n   AND d.device_enabled = @enabled"
		}
		return q + "\n ORDER BY d.device_name, d.id_device"
	}
	return devicesQuery
}

// DeviceArgs are the arguments of DevicesQuery (exported for EXPLAIN in benchmarks).
func DeviceArgs(scope access.Scope, f DeviceFilter) pgx.NamedArgs { return scope.Args(deviceArgs(f)) }

func deviceArgs(f DeviceFilter) pgx.NamedArgs {
	return pgx.NamedArgs{"id": f.ID, "uuid": f.UUID, "name": f.Name, "type": f.Type, "subtype": f.Subtype, "enabled": f.Enabled,
		"site": f.Site, "project": f.Project, "by_name": f.ByName, "with_participants": f.WithLink.Participants,
		"with_sites": f.WithLink.Sites, "with_projects": f.WithLink.Projects}
}

// DevicePatch is a partial write of a device; nil fields are left unchanged (on insert, the
// column defaults apply). ClearSubtype sets id_device_subtype to NULL.
type DevicePatch struct {
	Name                 *string
	Type, Subtype        *int32
	ClearSubtype         bool
	Enabled, Onlineable  *bool
	Config, Infos, Notes *string
}

func (p DevicePatch) args() pgx.NamedArgs {
	return pgx.NamedArgs{"name": p.Name, "type": p.Type, "subtype": p.Subtype, "clear_subtype": p.ClearSubtype,
		"enabled": p.Enabled, "onlineable": p.Onlineable, "config": p.Config, "infos": p.Infos, "notes": p.Notes}
}

// InsertDevice creates a device with a new uuid and returns its id and uuid.
func InsertDevice(ctx context.Context, db DB, p DevicePatch) (int32, string, error) {
	var id int32
	var uuid string
	err := db.QueryRow(ctx, `INSERT INTO core.t_devices (device_uuid, device_name, id_device_type, id_device_subtype,
		device_enabled, device_onlineable, device_config, device_infos, device_notes)
		VALUES (gen_random_uuid()::text, @name, @type, @subtype, coalesce(@enabled, false), coalesce(@onlineable, false),
		        @config, @infos, @notes)
		RETURNING id_device, device_uuid`, p.args()).Scan(&id, &uuid)
	return id, uuid, wrap("insert device", err)
}

// UpdateDevice changes a live device the scope covers (ErrNotFound otherwise).
func UpdateDevice(ctx context.Context, db DB, scope access.Scope, id int32, p DevicePatch) error {
	a := p.args()
	a["id"] = id
	tag, err := db.Exec(ctx, `UPDATE core.t_devices SET device_name = coalesce(@name, device_name),
		id_device_type = coalesce(@type, id_device_type),
		id_device_subtype = CASE WHEN @clear_subtype::boolean THEN NULL ELSE coalesce(@subtype, id_device_subtype) END,
		device_enabled = coalesce(@enabled, device_enabled), device_onlineable = coalesce(@onlineable, device_onlineable),
		device_config = coalesce(@config, device_config), device_infos = coalesce(@infos, device_infos),
		device_notes = coalesce(@notes, device_notes)
		WHERE id_device = @id AND deleted_at IS NULL
		  AND id_device IN (SELECT id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))`, scope.Args(a))
	return affected(tag.RowsAffected(), err)
}

// SetDeviceToken stores a device's static token.
func SetDeviceToken(ctx context.Context, db DB, id int32, token string) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_devices SET device_token = $2 WHERE id_device = $1`, id, token)
	return affected(tag.RowsAffected(), err)
}

// ServerSetting returns one t_server_settings value.
func ServerSetting(ctx context.Context, db DB, name string) (string, error) {
	var v string
	err := db.QueryRow(ctx, `SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = $1`, name).Scan(&v)
	return v, wrap("server setting "+name, err)
}

// ReplaceScopedLinks is ReplaceLinkSet for an owner on side A, without the added links.
func ReplaceScopedLinks(ctx context.Context, db DB, l Link, a int32, keep []int32, removable access.Fragment) error {
	_, err := ReplaceLinkSet(ctx, db, l, true, a, keep, removable)
	return err
}

// DeviceProjectCount counts the live project links of a device to projects inside (or, inside
// false, outside) the fragment's set.
func DeviceProjectCount(ctx context.Context, db DB, id int32, f access.Fragment, inside bool) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM core.t_devices_projects WHERE id_device = @id AND deleted_at IS NULL
		AND (id_project IN (`+f.SQL+`)) = @inside`, f.With(pgx.NamedArgs{"id": id, "inside": inside})).Scan(&n)
	return n, wrap("device projects", err)
}

// UnlinkDeviceProjects removes a device from the projects of the fragment's set.
func UnlinkDeviceProjects(ctx context.Context, db DB, id int32, f access.Fragment) error {
	_, err := db.Exec(ctx, `UPDATE core.t_devices_projects SET deleted_at = now() WHERE id_device = @id AND deleted_at IS NULL
		AND id_project IN (`+f.SQL+`)`, f.With(pgx.NamedArgs{"id": id}))
	return wrap("unlink device projects", err)
}

// DeviceExists reports whether a live device has that id.
func DeviceExists(ctx context.Context, db DB, id int32) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_devices WHERE id_device = $1 AND deleted_at IS NULL)`, id).Scan(&ok)
	return ok, wrap("device exists", err)
}

// DeviceIDByUUID returns the id of the live device with that uuid; ErrNotFound when none.
func DeviceIDByUUID(ctx context.Context, db DB, uuid string) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `SELECT id_device FROM core.t_devices WHERE device_uuid = $1 AND deleted_at IS NULL`, uuid).Scan(&id)
	return id, wrap("device by uuid", err)
}
