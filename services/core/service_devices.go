package core

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/devices

func (s *serviceAPI) SvcGetDevices(ctx context.Context, r *corev1.SvcGetDevicesRequest) (*corev1.SvcGetDevicesResponse, error) {
	var f store.DeviceFilter
	switch {
	case r.DeviceUuid != "":
		f.UUID = &r.DeviceUuid
	case r.IdDevice != 0:
		f.ID = &r.IdDevice // declared: 403 outside the service's projects
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListDevices(ctx, s.db, caller(ctx).acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if len(rows) == 0 {
		return nil, apierr.Forbidden("Forbidden")
	}
	item, err := deviceItem(rows[0], true)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	sub := item.DeviceSubtype
	item.DeviceSubtype = nil // not part of OpenTera's device JSON unless asked for
	v, err := messageValue(item)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := v.GetStructValue()
	if r.WithDeviceType {
		types, err := store.ListDeviceTypes(ctx, s.db, store.DeviceTypeFilter{ID: &rows[0].IDDeviceType})
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		for _, t := range types {
			out.Fields["device_type"], _ = messageValue(&corev1.DeviceType{IdDeviceType: t.IDDeviceType,
				DeviceTypeName: t.DeviceTypeName, DeviceTypeKey: t.DeviceTypeKey})
		}
	}
	if r.WithDeviceSubtype {
		out.Fields["device_subtype"] = structpb.NewNullValue()
		if sub != nil {
			out.Fields["device_subtype"], _ = messageValue(sub)
		}
	}
	if r.WithDeviceAssets {
		// The assets it created (OpenTera's device_assets), minimal, in sessions the service sees.
		assets, err := s.selectAssets(ctx, store.AssetsByCreatorDevice, rows[0].IDDevice, "", false, false, false)
		if err != nil {
			return nil, err
		}
		l, err := messageList(assets)
		if err != nil {
			return nil, s.internal(ctx, err)
		}
		out.Fields["device_assets"] = structpb.NewListValue(l)
	}
	return &corev1.SvcGetDevicesResponse{Device: out}, nil
}

func (s *serviceAPI) SvcPostDevice(ctx context.Context, r *corev1.SvcPostDeviceRequest) (*corev1.SvcPostDeviceResponse, error) {
	b := r.GetDevice()
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing arguments")
	case b.GetIdDevice() == 0:
		// OpenTera creates a device linked to nothing, which only a superadmin could see again.
		return nil, apierr.Forbidden("Forbidden")
	case b.IdDeviceType != nil && b.GetIdDeviceType() < 1:
		return nil, apierr.Forbidden("Unknown device type")
	case b.IdDeviceSubtype != nil && b.GetIdDeviceSubtype() < 0:
		return nil, apierr.Forbidden("Unknown device subtype")
	}
	// A service changes the device, not its links to sites and projects.
	b.DeviceSites, b.DeviceProjects = nil, nil
	res, err := (&devices{Service: s.Service}).PostDevice(ctx, &corev1.PostDeviceRequest{Device: b})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostDeviceResponse{Device: res.Devices[0]}, nil
}
