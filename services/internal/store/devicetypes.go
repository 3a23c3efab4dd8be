package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// DeviceType is a t_devices_types row.
type DeviceType struct {
	IDDeviceType   int32  `db:"id_device_type"`
	DeviceTypeName string `db:"device_type_name"`
	DeviceTypeKey  string `db:"device_type_key"`
}

// DeviceTypeFilter selects device types; nil fields do not filter. Device types are not access
// controlled (OpenTera shows every type to every user).
type DeviceTypeFilter struct {
	ID  *int32
	Key *string
}

const listDeviceTypes = `SELECT id_device_type, device_type_name, device_type_key FROM core.t_devices_types
 WHERE (@id::integer IS NULL OR id_device_type = @id) AND (@key::text IS NULL OR device_type_key = @key)
 ORDER BY id_device_type`

// ListDeviceTypes returns the device types matching f, by id.
func ListDeviceTypes(ctx context.Context, db DBTX, f DeviceTypeFilter) ([]DeviceType, error) {
	rows, err := db.Query(ctx, listDeviceTypes, pgx.NamedArgs{"id": f.ID, "key": f.Key})
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[DeviceType])
	return out, mapErr(err)
}

// DeviceTypePatch holds the columns a write sets; nil ones are left unchanged.
type DeviceTypePatch struct {
	Name, Key *string
}

// InsertDeviceType creates a device type; name and key are required by the caller.
func InsertDeviceType(ctx context.Context, db DBTX, p DeviceTypePatch) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_devices_types (device_type_name, device_type_key) VALUES (@name, @key)
		RETURNING id_device_type`, pgx.NamedArgs{"name": p.Name, "key": p.Key}).Scan(&id)
	return id, mapErr(err)
}

// UpdateDeviceType changes a device type; ErrNotFound when it does not exist.
func UpdateDeviceType(ctx context.Context, db DBTX, id int32, p DeviceTypePatch) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_devices_types SET device_type_name = coalesce(@name, device_type_name),
		device_type_key = coalesce(@key, device_type_key) WHERE id_device_type = @id`,
		pgx.NamedArgs{"id": id, "name": p.Name, "key": p.Key})
	return affected(tag.RowsAffected(), err)
}

// DeleteDeviceType deletes a device type (device types have no soft delete); refused with
// *IntegrityError while devices use it.
func DeleteDeviceType(ctx context.Context, db DBTX, id int32) error {
	tag, err := db.Exec(ctx, `DELETE FROM core.t_devices_types WHERE id_device_type = $1`, id)
	return affected(tag.RowsAffected(), err)
}

// DeviceSubType is a t_devices_subtypes row with its type's name.
type DeviceSubType struct {
	IDDeviceSubtype     int32  `db:"id_device_subtype"`
	IDDeviceType        int32  `db:"id_device_type"`
	DeviceSubtypeName   string `db:"device_subtype_name"`
	DeviceSubtypeParent string `db:"device_subtype_parent"`
}

// DeviceSubTypeFilter selects subtypes; nil fields do not filter.
type DeviceSubTypeFilter struct {
	ID, Type *int32
}

const listDeviceSubTypes = `SELECT st.id_device_subtype, st.id_device_type, st.device_subtype_name,
       t.device_type_name AS device_subtype_parent
  FROM core.t_devices_subtypes st JOIN core.t_devices_types t ON t.id_device_type = st.id_device_type
 WHERE (@id::integer IS NULL OR st.id_device_subtype = @id) AND (@type::integer IS NULL OR st.id_device_type = @type)
 ORDER BY st.id_device_subtype`

// ListDeviceSubTypes returns the subtypes matching f, by id.
func ListDeviceSubTypes(ctx context.Context, db DBTX, f DeviceSubTypeFilter) ([]DeviceSubType, error) {
	rows, err := db.Query(ctx, listDeviceSubTypes, pgx.NamedArgs{"id": f.ID, "type": f.Type})
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[DeviceSubType])
	return out, mapErr(err)
}

// InsertDeviceSubType creates a subtype of a device type.
func InsertDeviceSubType(ctx context.Context, db DBTX, idType int32, name string) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_devices_subtypes (id_device_type, device_subtype_name) VALUES ($1, $2)
		RETURNING id_device_subtype`, idType, name).Scan(&id)
	return id, mapErr(err)
}

// UpdateDeviceSubType changes a subtype's name when given (its type never changes, as
// OpenTera); ErrNotFound when it does not exist.
func UpdateDeviceSubType(ctx context.Context, db DBTX, id int32, name *string) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_devices_subtypes SET device_subtype_name = coalesce($2, device_subtype_name)
		WHERE id_device_subtype = $1`, id, name)
	return affected(tag.RowsAffected(), err)
}

// DeleteDeviceSubType deletes a subtype; refused with *IntegrityError while devices use it.
func DeleteDeviceSubType(ctx context.Context, db DBTX, id int32) error {
	tag, err := db.Exec(ctx, `DELETE FROM core.t_devices_subtypes WHERE id_device_subtype = $1`, id)
	return affected(tag.RowsAffected(), err)
}

// affected maps a write's result: an error through mapErr, no row touched to ErrNotFound.
func affected(n int64, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
