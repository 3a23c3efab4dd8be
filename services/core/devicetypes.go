package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/devicetypes and /api/user/devicesubtypes. Every user sees every type (as OpenTera);
// writes are superadmin only, declared on the RPCs.

type deviceTypes struct {
	*Service
	corev1.UnimplementedDeviceTypeServiceServer
}

func deviceTypeProto(t store.DeviceType) *corev1.DeviceType {
	return &corev1.DeviceType{IdDeviceType: t.IDDeviceType, DeviceTypeName: t.DeviceTypeName, DeviceTypeKey: t.DeviceTypeKey}
}

func (s *deviceTypes) list(ctx context.Context, q store.DBTX, f store.DeviceTypeFilter) ([]*corev1.DeviceType, error) {
	rows, err := store.ListDeviceTypes(ctx, q, f)
	return mapRows(ctx, s.Service, rows, err, deviceTypeProto)
}

func (s *deviceTypes) GetDeviceTypes(ctx context.Context, r *corev1.GetDeviceTypesRequest) (*corev1.GetDeviceTypesResponse, error) {
	var f store.DeviceTypeFilter
	switch {
	case r.IdDeviceType != 0:
		f.ID = &r.IdDeviceType
	case r.DeviceTypeKey != "":
		f.Key = &r.DeviceTypeKey
	}
	out, err := s.list(ctx, s.db, f)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 && (f.ID != nil || f.Key != nil) {
		return nil, apierr.Forbidden("Unexisting ID/Forbidden access")
	}
	return &corev1.GetDeviceTypesResponse{DeviceTypes: out}, nil
}

func (s *deviceTypes) PostDeviceType(ctx context.Context, r *corev1.PostDeviceTypeRequest) (*corev1.PostDeviceTypeResponse, error) {
	b := r.GetDeviceType()
	if _, err := bodyKey(b, func(b *corev1.DeviceTypeBody) *int32 { return b.IdDeviceType }, "device type", "id_device_type"); err != nil {
		return nil, err
	}
	for _, v := range []*string{b.DeviceTypeName, b.DeviceTypeKey} {
		if v != nil && strings.TrimSpace(*v) == "" {
			return nil, apierr.InvalidArgument("Invalid device type name or key")
		}
	}
	id := b.GetIdDeviceType()
	p := store.DeviceTypePatch{Name: b.DeviceTypeName, Key: b.DeviceTypeKey}
	var out []*corev1.DeviceType
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if id > 0 {
			err = store.UpdateDeviceType(ctx, tx, id, p)
			if errors.Is(err, store.ErrNotFound) {
				return apierr.InvalidArgument("Invalid device type")
			}
		} else if p.Name == nil || p.Key == nil {
			return apierr.MissingArgument("Missing device_type_name or device_type_key")
		} else {
			id, err = store.InsertDeviceType(ctx, tx, p)
		}
		if err != nil {
			return err
		}
		out, err = s.list(ctx, tx, store.DeviceTypeFilter{ID: &id})
		return err
	})
	return reply(&corev1.PostDeviceTypeResponse{DeviceTypes: out}, err)
}

func (s *deviceTypes) DeleteDeviceType(ctx context.Context, r *corev1.DeleteDeviceTypeRequest) (*corev1.DeleteDeviceTypeResponse, error) {
	var f store.DeviceTypeFilter
	switch {
	case r.Id == nil && r.DeviceTypeKey == nil:
		return nil, apierr.MissingArgument("Missing arguments")
	case r.Id != nil && r.DeviceTypeKey != nil:
		return nil, apierr.InvalidArgument("Tried to delete with 2 parameters")
	}
	f.ID, f.Key = r.Id, r.DeviceTypeKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		found, err := store.ListDeviceTypes(ctx, tx, f)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return apierr.InvalidArgument("Device type not found")
		}
		err = store.DeleteDeviceType(ctx, tx, found[0].IDDeviceType)
		if _, ok := errors.AsType[*store.IntegrityError](err); ok {
			return apierr.Integrity("Can't delete device type: please delete all associated devices before deleting.")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteDeviceTypeResponse{Result: "Device type successfully deleted"}, nil
}

type deviceSubTypes struct {
	*Service
	corev1.UnimplementedDeviceSubTypeServiceServer
}

func (s *deviceSubTypes) list(ctx context.Context, q store.DBTX, f store.DeviceSubTypeFilter) ([]*corev1.DeviceSubType, error) {
	rows, err := store.ListDeviceSubTypes(ctx, q, f)
	return mapRows(ctx, s.Service, rows, err, func(t store.DeviceSubType) *corev1.DeviceSubType {
		return &corev1.DeviceSubType{IdDeviceSubtype: t.IDDeviceSubtype, IdDeviceType: t.IDDeviceType,
			DeviceSubtypeName: t.DeviceSubtypeName, DeviceSubtypeParent: t.DeviceSubtypeParent}
	})
}

func (s *deviceSubTypes) GetDeviceSubTypes(ctx context.Context, r *corev1.GetDeviceSubTypesRequest) (*corev1.GetDeviceSubTypesResponse, error) {
	switch {
	case r.IdDeviceSubtype != nil && r.IdDeviceType != nil:
		return nil, apierr.InvalidArgument("Too Many IDs")
	case r.IdDeviceType != nil:
		types, err := store.ListDeviceTypes(ctx, s.db, store.DeviceTypeFilter{ID: r.IdDeviceType})
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		if len(types) == 0 {
			return nil, apierr.Forbidden("No access to device type")
		}
	}
	out, err := s.list(ctx, s.db, store.DeviceSubTypeFilter{ID: r.IdDeviceSubtype, Type: r.IdDeviceType})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 && r.IdDeviceSubtype != nil {
		return nil, apierr.Forbidden("No access to device subtype")
	}
	return &corev1.GetDeviceSubTypesResponse{DeviceSubtypes: out}, nil
}

func (s *deviceSubTypes) PostDeviceSubType(ctx context.Context, r *corev1.PostDeviceSubTypeRequest) (*corev1.PostDeviceSubTypeResponse, error) {
	b := r.GetDeviceSubtype()
	if _, err := bodyID(b, func(b *corev1.DeviceSubTypeBody) *int32 { return b.IdDeviceSubtype }, "device_subtype"); err != nil {
		return nil, err
	}
	switch {
	case b.DeviceSubtypeName != nil && strings.TrimSpace(b.GetDeviceSubtypeName()) == "":
		return nil, apierr.InvalidArgument("Invalid device_subtype_name")
	}
	id := b.GetIdDeviceSubtype()
	var out []*corev1.DeviceSubType
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		switch {
		case id > 0:
			err = store.UpdateDeviceSubType(ctx, tx, id, b.DeviceSubtypeName)
		case b.IdDeviceType == nil || b.DeviceSubtypeName == nil:
			return apierr.MissingArgument("Missing id_device_type or device_subtype_name")
		default:
			id, err = store.InsertDeviceSubType(ctx, tx, b.GetIdDeviceType(), b.GetDeviceSubtypeName())
			if _, ok := errors.AsType[*store.IntegrityError](err); ok {
				return apierr.InvalidArgument("Invalid device type")
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid device subtype")
		} else if err != nil {
			return err
		}
		out, err = s.list(ctx, tx, store.DeviceSubTypeFilter{ID: &id})
		return err
	})
	return reply(&corev1.PostDeviceSubTypeResponse{DeviceSubtypes: out}, err)
}

func (s *deviceSubTypes) DeleteDeviceSubType(ctx context.Context, r *corev1.DeleteDeviceSubTypeRequest) (*corev1.DeleteDeviceSubTypeResponse, error) {
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		err := store.DeleteDeviceSubType(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Device subtype not found")
		}
		if _, ok := errors.AsType[*store.IntegrityError](err); ok {
			return apierr.Integrity("Can't delete device subtype: please delete all devices of that subtype before deleting.")
		}
		return err
	})
	return reply(&corev1.DeleteDeviceSubTypeResponse{Result: "Device subtype successfully deleted"}, err)
}
