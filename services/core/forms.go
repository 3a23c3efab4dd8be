package core

import (
	"context"
	"errors"
	"sort"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/forms: OpenTera's form descriptors (opentera/forms/*, docs/developers/
// Form-Structure.md), built here from Go data: {objecttype, sections: [{id, label, _order,
// items: [{id, label, type, required?, values?, default?, condition?, _order, options…}]}]}.

type forms struct {
	*Service
	corev1.UnimplementedFormServiceServer
}

// item is a TeraFormItem. Like OpenTera's to_dict, required is written only when true,
// values only when there are some, default only when truthy.
type item struct {
	id, label, typ string
	required       bool
	values         []any // choice(…) or plain strings (ids "0", "1", … as OpenTera)
	def            any
	cond           *cond
	opts           map[string]any
}

type cond struct {
	item, op string
	value    any
	hook     string
}

type section struct {
	id, label string
	items     []item
}

type choice struct {
	id    any
	value string
}

func it(id, label, typ string, required bool) item {
	return item{id: id, label: label, typ: typ, required: required}
}

func (i item) vals(v []any) item        { i.values = v; return i }
func (i item) dflt(v any) item          { i.def = v; return i }
func (i item) when(c cond) item         { i.cond = &c; return i }
func (i item) opt(k string, v any) item { i.opts = map[string]any{k: v}; return i }
func readonly(i item, ro bool) item     { return i.opt("readonly", ro) }
func choices(cs []store.Choice) []any {
	out := []any{}
	for _, c := range cs {
		out = append(out, choice{c.ID, c.Name})
	}
	return out
}
func enum(pairs ...any) []any {
	out := []any{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, choice{pairs[i], pairs[i+1].(string)})
	}
	return out
}

func build(objecttype string, sections ...section) map[string]any {
	ss := []any{}
	for n, s := range sections {
		items := []any{}
		for k, i := range s.items {
			m := map[string]any{"id": i.id, "label": i.label, "type": i.typ, "_order": float64(k + 1)}
			if i.required {
				m["required"] = true
			}
			if len(i.values) > 0 {
				vs := []any{}
				for j, v := range i.values {
					if c, ok := v.(choice); ok {
						if n, isInt := c.id.(int32); isInt {
							vs = append(vs, map[string]any{"id": float64(n), "value": c.value})
						} else {
							vs = append(vs, map[string]any{"id": c.id, "value": c.value})
						}
					} else {
						vs = append(vs, map[string]any{"id": itoa(j), "value": v})
					}
				}
				m["values"] = vs
			}
			if truthy(i.def) {
				m["default"] = i.def
			}
			if i.cond != nil {
				c := map[string]any{"item": i.cond.item, "op": i.cond.op, "condition": i.cond.value}
				if i.cond.hook != "" {
					c["hook"] = i.cond.hook
				}
				m["condition"] = c
			}
			for k, v := range i.opts {
				m[k] = v
			}
			items = append(items, m)
		}
		ss = append(ss, map[string]any{"id": s.id, "label": s.label, "_order": float64(n + 1), "items": items})
	}
	return map[string]any{"objecttype": objecttype, "sections": ss}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + itoa(i%10)
}

func (s *forms) GetForm(ctx context.Context, r *corev1.GetFormRequest) (*corev1.GetFormResponse, error) {
	if r.Type == "" {
		return nil, apierr.MissingArgument("Missing type")
	}
	build, ok := formBuilders[r.Type]
	if !ok {
		return nil, apierr.InvalidArgument("Unknown form type: " + r.Type)
	}
	f, err := build(ctx, s.Service, caller(ctx), r)
	if err != nil {
		if apierr.IsStatus(err) {
			return nil, err
		}
		return nil, s.dbError(ctx, err)
	}
	st, err := structpb.NewStruct(f)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &corev1.GetFormResponse{Form: st}, nil
}

type formBuilder func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error)

// list reads one list of choices, or fails the whole form.
func (s *Service) formList(ctx context.Context, m me, l store.ChoiceList, id int32, err *error) []any {
	if *err != nil {
		return nil
	}
	cs, e := store.Choices(ctx, s.db, m.acc, l, id)
	*err = e
	return choices(cs)
}

var formBuilders = map[string]formBuilder{
	"user": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		return build("user", section{"informations", "Information", []item{
			it("id_user", "User ID", "hidden", true), it("user_uuid", "User UUID", "hidden", false), it("user_name", "User Full Name", "hidden", false),
			it("user_username", "Username", "text", true), it("user_enabled", "User Enabled", "boolean", true).dflt(true),
			it("user_force_password_change", "Force password change", "boolean", false).dflt(false),
			it("user_2fa_enabled", "2FA Enabled", "boolean", false).dflt(false),
			it("user_firstname", "First Name", "text", true), it("user_lastname", "Last Name", "text", true), it("user_email", "Email", "text", false),
			it("user_password", "Password", "password", false).opt("confirm", true),
			it("user_superadmin", "User Is Super Administrator", "boolean", true),
			readonly(it("user_lastonline", "Last Connection", "datetime", false), true),
			it("user_notes", "Notes", "longtext", false), it("user_profile", "Profile", "hidden", false)}}), nil
	},
	"site": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		return build("site", section{"informations", "Information", []item{
			it("id_site", "Site ID", "hidden", true), it("site_name", "Site Name", "text", true),
			it("site_2fa_required", "Users Require 2FA", "boolean", false).dflt(false), it("site_role", "Site Role", "hidden", false)}}), nil
	},
	"device": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		types := s.formList(ctx, m, store.ChoiceDeviceTypes, 0, &err)
		return build("device", section{"details", "Parameters", []item{
			it("id_device", "Device ID", "hidden", true), it("device_uuid", "Device UUID", "hidden", true),
			it("device_name", "Device Name", "text", true), it("id_device_type", "Device Type ID", "array", true).vals(types),
			it("id_device_subtype", "Device Sub-Type", "array", false).when(cond{"id_device_type", "=", "changed", "/api/user/devicesubtypes?id_device_type="}),
			readonly(it("device_token", "Access Token", "longlabel", false), false),
			readonly(it("device_certificate", "Certificate", "hidden", false), true),
			it("device_enabled", "Device Enabled?", "boolean", true), it("device_onlineable", "Device Onlineable?", "boolean", true),
			readonly(it("device_lastonline", "Last Connection", "datetime", false), true)}},
			section{"infos", "Information", []item{it("device_infos", "Device Information", "longtext", false)}},
			section{"config", "Configuration", []item{it("device_config", "Device Configuration", "longtext", false)}},
			section{"notes", "Notes", []item{it("device_notes", "Notes", "longtext", false)}}), err
	},
	"project": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		sites := s.formList(ctx, m, store.ChoiceSites, 0, &err)
		return build("project", section{"informations", "Information", []item{
			it("id_project", "Project ID", "hidden", true), it("project_name", "Project Name", "text", true),
			it("project_enabled", "Enabled", "boolean", true).dflt(true), it("id_site", "Site", "array", true).vals(sites),
			it("project_role", "Role", "hidden", false), it("site_name", "Site Name", "hidden", false)}},
			section{"description", "Description", []item{it("project_description", "Description", "longtext", false)}}), err
	},
	"group": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		var projects []any
		switch site, ok := s.groupSite(ctx, m, r); {
		case r.IdSite != 0:
			projects = s.formList(ctx, m, store.ChoiceProjectsOfSite, r.IdSite, &err)
		case ok:
			projects = s.formList(ctx, m, store.ChoiceProjectsOfSite, site, &err)
		default:
			projects = s.formList(ctx, m, store.ChoiceProjects, 0, &err)
		}
		return build("group", section{"informations", "Information", []item{
			it("id_participant_group", "Participant Group ID", "hidden", true), it("participant_group_name", "Participant Group Name", "text", true),
			it("id_project", "Project", "array", true).vals(projects), it("project_name", "Project Name", "hidden", false)}}), err
	},
	"participant": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		var groups []any
		project := r.IdProject
		if project != 0 {
			if ok, e := m.acc.Can(ctx, s.db, access.Projects, project); e != nil || !ok {
				project = 0
			}
		}
		if project == 0 && r.Id != 0 {
			if p, e := store.FormParticipantProject(ctx, s.db, m.acc, r.Id); e == nil {
				project = p
			} else if !errors.Is(e, store.ErrNotFound) {
				err = e
			}
		}
		if project != 0 {
			groups = s.formList(ctx, m, store.ChoiceGroupsOfProject, project, &err)
		} else {
			groups = s.formList(ctx, m, store.ChoiceGroups, 0, &err)
		}
		return build("participant", section{"informations", "Information", []item{
			it("id_participant", "Participant ID", "hidden", true), it("id_project", "Projet ID", "hidden", true),
			it("participant_uuid", "Participant UUID", "hidden", true), it("participant_name", "Participant Name", "text", true),
			it("participant_email", "Participant Email", "text", false), it("id_participant_group", "Participant Group", "array", false).vals(groups),
			it("participant_enabled", "Participant Enabled", "boolean", true).dflt(true),
			it("participant_token_enabled", "Participant Token Login Enabled", "boolean", true).dflt(false),
			readonly(it("participant_token", "Participant Token", "label", false), false),
			it("participant_login_enabled", "Participant Login Enabled", "boolean", true).dflt(false),
			it("participant_username", "Participant Username", "text", true).when(cond{"participant_login_enabled", "=", true, ""}),
			it("participant_password", "Participant Password", "password", false).opt("confirm", true).when(cond{"participant_login_enabled", "=", true, ""}),
			readonly(it("participant_lastonline", "Last Connection", "datetime", false), true),
			readonly(it("participant_lastsession", "Last Session", "datetime", false), true)}}), err
	},
	"session_type": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		services := s.formList(ctx, m, store.ChoiceServices, 0, &err)
		return build("session_type", section{"informations", "Information", []item{
			it("id_session_type", "Session Type ID", "hidden", true), it("session_type_name", "Session Type Name", "text", true),
			it("session_type_category", "Category", "array", true).vals(enum(int32(1), "Service", int32(2), "Data Collect", int32(3), "File Transfer", int32(4), "Protocol")),
			it("id_service", "Service", "array", false).vals(services).when(cond{"session_type_category", "=", 1.0, ""}),
			it("session_type_service_key", "Session Type Service Key", "hidden", false), it("session_type_online", "Session Type Online", "boolean", true),
			it("session_type_color", "Session Type Display Color", "color", true),
			it("session_type_config", "Session Type Configuration", "longtext", false)}}), err
	},
	"session_type_config": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		if r.Id == 0 {
			return nil, apierr.MissingArgument("Missing session type id")
		}
		// A SERVICE type's config form comes from its service in OpenTera (RPC session_type_config,
		// 408 without a reply); no Tera service answers it yet, so every type gets the empty form.
		_, err := store.FormSessionTypeCategory(ctx, s.db, m.acc, r.Id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.InvalidArgument("Unknown form type: session_type_config")
		}
		return build("session_type_config"), err
	},
	"session": sessionForm,
	"device_type": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		return build("device_type", section{"infos", "Information", []item{it("id_device_type", "Device Type ID", "hidden", true),
			it("device_type_name", "Device Type Name", "text", true), it("device_type_key", "Device Type Key", "text", true)}}), nil
	},
	"device_subtype": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		types := s.formList(ctx, m, store.ChoiceDeviceTypes, 0, &err)
		return build("device_subtype", section{"infos", "Information", []item{it("id_device_subtype", "Device Sub-Type ID", "hidden", true),
			it("device_subtype_name", "Device Sub-Type Name", "text", true), it("id_device_type", "Device Type ID", "array", true).vals(types)}}), err
	},
	"user_group": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		return build("user_group", section{"infos", "Information", []item{it("id_user_group", "User Group ID", "hidden", true),
			it("user_group_name", "User Group Name", "text", true)}}), nil
	},
	"service": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		return build("service", section{"infos", "Information", []item{it("id_service", "Service ID", "hidden", true),
			readonly(it("service_uuid", "Service UUID", "label", false), false), it("service_name", "Service Name", "text", true),
			it("service_key", "Service Key", "text", true), it("service_hostname", "Service Hostname", "text", true),
			it("service_port", "Service Internal Port", "numeric", true), it("service_endpoint", "Service Internal URL", "text", true),
			it("service_clientendpoint", "Service External Endpoint", "text", true), it("service_endpoint_user", "Service User Endpoint", "text", false),
			it("service_endpoint_participant", "Service Participant Endpoint", "text", false),
			it("service_endpoint_device", "Service Device Endpoint", "text", false), it("service_system", "System Service", "boolean", true),
			it("service_enabled", "Service Enabled", "boolean", true), it("service_has_assets", "Service Contains Assets", "boolean", true),
			it("service_has_tests", "Service Contains Tests", "boolean", true),
			it("service_editable_config", "Service has editable config", "boolean", false),
			it("service_default_config", "Service Default Configuration", "longtext", false)}}), nil
	},
	"service_config": serviceConfigForm,
	"versions":       versionsForm,
	"test_type": func(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
		var err error
		services := s.formList(ctx, m, store.ChoiceServices, 0, &err)
		return build("test_type", section{"informations", "", []item{it("id_test_type", "Test Type ID", "hidden", true),
			it("test_type_name", "Name", "text", true), it("id_service", "Service", "array", true).vals(services),
			it("test_type_uuid", "UUID", "hidden", true), it("test_type_key", "Unique Key", "text", false),
			it("test_type_has_json_format", "Expose JSON structure", "boolean", false),
			it("test_type_has_web_format", "Expose Web interface", "boolean", false),
			it("test_type_has_web_editor", "Expose Web editor", "boolean", false),
			it("test_type_description", "Description", "longtext", false)}}), err
	},
}

// groupSite is the site of the group ?id= names when the caller sees it (its projects list).
func (s *Service) groupSite(ctx context.Context, m me, r *corev1.GetFormRequest) (int32, bool) {
	if r.Id == 0 {
		return 0, false
	}
	site, err := store.FormGroupSite(ctx, s.db, m.acc, r.Id)
	return site, err == nil
}

func sessionForm(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
	project, err := store.FormSessionProject(ctx, s.db, m.acc, r.Id, r.IdProject)
	if err != nil {
		return nil, err
	}
	pick := func(all, of store.ChoiceList) (store.ChoiceList, int32) {
		if project != 0 {
			return of, project
		}
		return all, 0
	}
	lists := [5][]any{}
	for i, l := range [5][2]store.ChoiceList{{store.ChoiceSessionTypes, store.ChoiceSessionTypesOfProject}, {store.ChoiceUsers, store.ChoiceUsersOfProject},
		{store.ChoiceDevices, store.ChoiceDevicesOfProject}, {store.ChoiceParticipants, store.ChoiceParticipantsOfProject},
		{store.ChoiceServices, store.ChoiceServicesOfProject}} {
		kind, id := pick(l[0], l[1])
		lists[i] = s.formList(ctx, m, kind, id, &err)
	}
	creator := func(id, label string, values []any) item {
		return readonly(it(id, label, "array", true), true).vals(values).when(cond{"session_creator_" + id[len("id_creator_"):], "NOT NULL", nil, ""})
	}
	return build("session", section{"informations", "Information", []item{
		it("id_session", "Session ID", "hidden", true), it("session_uuid", "Session UUID", "hidden", true),
		it("session_name", "Session Name", "text", true), it("id_session_type", "Session Type", "array", true).vals(lists[0]),
		it("session_creator_user", "Session User Creator", "hidden", false), creator("id_creator_user", "Session User Creator", lists[1]),
		it("session_creator_device", "Session Creator Device", "hidden", false), creator("id_creator_device", "Session Creator Device ID", lists[2]),
		it("session_creator_participant", "Session Creator Participant", "hidden", false),
		creator("id_creator_participant", "Session Creator Participant", lists[3]),
		it("session_creator_service", "Session Creator Service", "hidden", false), creator("id_creator_service", "Session Creator Service", lists[4]),
		it("session_start_datetime", "Start Date", "datetime", true),
		func() item {
			i := it("session_duration", "Duration", "duration", true)
			i.opts = map[string]any{"default": 0.0, "readonly": true}
			return i
		}(),
		it("session_status", "State", "array", true).vals(enum(int32(0), "Planned", int32(1), "In progess", int32(2), "Completed", int32(3), "Cancelled", int32(4), "Interrupted")),
		it("session_parameters", "Parameters", "json", false), it("session_comments", "Comments", "longtext", false),
		it("session_has_device_data", "Session Has Device Data", "hidden", false)}}), err
}

func serviceConfigForm(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
	if r.Id == 0 && r.Key == "" {
		return build("service_config", section{"infos", "Information", []item{it("id_service", "Service ID", "hidden", true),
			it("id_service_config", "Service Config ID", "hidden", true), it("id_user", "User ID", "hidden", false),
			it("id_device", "Device ID", "hidden", false), it("id_participant", "Participant ID", "hidden", false),
			it("service_config_config", "Service Config", "hidden", true)}}), nil
	}
	key, err := store.FormServiceKey(ctx, s.db, r.Id, r.Key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.InvalidArgument("Invalid service specified")
	} else if err != nil {
		return nil, err
	}
	if key != "VideoRehabService" {
		return build("service_config_config"), nil
	}
	ptz := cond{"camera_ptz", "=", true, ""}
	return build("service_config_config", section{"main_audio_video", "Multimedia Configuration", []item{
		it("camera", "Camera", "videoinputs", false), it("mirror", "Mirrored image", "boolean", false).dflt(true),
		it("blur", "Blurred background", "boolean", false).dflt(false),
		it("teracam_src", "URL", "text", true).when(cond{"camera", "=", "OpenTeraCam", ""}),
		it("camera_ptz", "Pan-Tilt-Zoom Camera", "boolean", false),
		it("camera_ptz_type", "Control Type", "array", true).vals(enum("0", "Vivotek")).when(ptz),
		it("camera_ptz_ip", "Network Address", "text", true).when(ptz), it("camera_ptz_port", "Port", "numeric", true).when(ptz),
		it("camera_ptz_username", "Username", "text", true).when(ptz), it("camera_ptz_password", "Password", "password", true).when(ptz),
		it("audio", "Microphone", "audioinputs", false), it("camera2", "Secondary Camera", "videoinputs", false)}}), nil
}

func versionsForm(ctx context.Context, s *Service, m me, r *corev1.GetFormRequest) (map[string]any, error) {
	raw, err := (&serverInfo{Service: s}).setting(ctx, s.db, "ServerVersions", false)
	if err != nil {
		return nil, err
	}
	ro := func(id, label, typ string) item { return readonly(it(id, label, typ, true), true) }
	sections := []section{{"infos", "Information", []item{ro("version_string", "OpenTeraServer version string", "hidden"),
		ro("version_major", "OpenTeraServer major version number", "text"), ro("version_minor", "OpenTeraServer minor version number", "text"),
		ro("version_patch", "OpenTeraServer patch version number", "text")}}}
	v := parseVersions(raw)
	names := make([]string, 0, len(v.Clients))
	for n := range v.Clients {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, c := range names {
		sections = append(sections, section{c, c + " Versions", []item{ro("client_name", "Client name", "text"),
			ro("client_description", "Client description", "longtext"), ro("client_version", "Client version", "text"),
			ro("client_documentation_url", "Client documentation url", "text"), ro("client_windows_download_url", "Client windows version", "text"),
			ro("client_mac_download_url", "Client mac version", "text"), ro("client_linux_download_url", "Client linux version", "text")}})
	}
	return build("versions", sections...), nil
}
