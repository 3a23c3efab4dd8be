package accessmatrix_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// request is one HTTP request of the walk.
type request struct {
	route       string // the route it exercises: "POST /api/user/users" or a plain pattern
	method      string
	path        string
	query       url.Values
	body        []byte
	contentType string
}

// route is one HTTP entry point the process serves, with how to build its requests.
type route struct {
	name   string // "POST /api/user/users (tera.core.v1.UserService/PostUser)"
	method string
	path   string
	write  bool
	// gateway routes: the input message and the field the body binds ("*", "" or a field).
	input protoreflect.MessageDescriptor
	out   protoreflect.MessageDescriptor
	body  string
	// plain routes: a builder of the requests.
	plain func(v *values) []request
}

// gatewayRoutes lists the grpc-gateway bindings of every registered gRPC method. A method
// without an HTTP binding cannot be reached by an OpenTera client and fails the walk: it would
// need a gRPC request builder here.
func gatewayRoutes(services map[string][]string) ([]route, []string) {
	var out []route
	var problems []string
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, svc := range names {
		switch svc {
		case "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection":
			continue
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			problems = append(problems, fmt.Sprintf("service %s: no descriptor", svc))
			continue
		}
		sd := d.(protoreflect.ServiceDescriptor)
		for _, m := range services[svc] {
			md := sd.Methods().ByName(protoreflect.Name(m))
			if md == nil {
				problems = append(problems, fmt.Sprintf("%s/%s: no descriptor", svc, m))
				continue
			}
			rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil || rule.GetPattern() == nil {
				problems = append(problems, fmt.Sprintf("%s/%s: no HTTP binding (the walk builds REST requests only)", svc, m))
				continue
			}
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				method, path := "", ""
				switch p := r.GetPattern().(type) {
				case *annotations.HttpRule_Get:
					method, path = "GET", p.Get
				case *annotations.HttpRule_Post:
					method, path = "POST", p.Post
				case *annotations.HttpRule_Put:
					method, path = "PUT", p.Put
				case *annotations.HttpRule_Patch:
					method, path = "PATCH", p.Patch
				case *annotations.HttpRule_Delete:
					method, path = "DELETE", p.Delete
				default:
					problems = append(problems, fmt.Sprintf("%s/%s: HTTP binding of an unknown kind", svc, m))
					continue
				}
				if strings.Contains(path, "{") {
					problems = append(problems, fmt.Sprintf("%s/%s: path variables in %s are not built", svc, m, path))
					continue
				}
				if r.GetBody() != "" && r.GetBody() != "*" {
					problems = append(problems, fmt.Sprintf("%s/%s: body %q (only \"*\" or none are built)", svc, m, r.GetBody()))
					continue
				}
				out = append(out, route{name: fmt.Sprintf("%s %s (%s/%s)", method, path, svc, m), method: method, path: path,
					write: method != "GET", input: md.Input(), out: md.Output(), body: r.GetBody()})
			}
		}
	}
	return out, problems
}

// slot is an id field of a request template; the walk sets it to each of its values in turn.
type slot struct {
	field  string
	values []any // int64 ids, or strings (uuids)
}

// strField is a string field, filled with a fresh value at each request (creates need unique
// names and usernames).
type strField struct{ field string }

// template is a request with holes: its JSON body or its query is a tree holding *slot and
// strField leaves.
type template struct {
	r     route
	tree  map[string]any
	slots []*slot
	// fromOutput: the body is built from the answer's item message, whose lists are output only.
	fromOutput bool
	// primaryOnly: only the first slot (the object's own id) varies.
	primaryOnly bool
}

// values knows the ids and strings the walk sets fields to.
type values struct {
	ids     map[string][]int64  // by field name (id_site …; "id" for the primary-id alias)
	strings map[string][]string // selector values by field name (GET)
	seq     int
	missing map[string]bool // id fields no table maps to
	// assetToken signs an asset access token for the walking account (the filetransfer
	// routes' second credential); set by walk.
	assetToken func(assetUUID string) string
}

func (v *values) idValues(field string) []int64 {
	if ids, ok := v.ids[field]; ok {
		return ids
	}
	v.missing[field] = true
	return nil
}

// listKeys names the id key of the elements of OpenTera's id lists ({"<key>": n}), by field
// name; "=key" is a list of bare ids of that key ([n, …]).
var listKeys = map[string]string{
	"sessiontypes": "id_session_type", "user_user_groups": "id_user_group", "projects": "id_project",
	"services": "id_service", "sites": "id_site", "service_roles": "id_service_role", "service_projects": "id_project",
	"device_projects": "id_project", "device_sites": "id_site",
	"session_type_projects": "id_project", "session_type_sites": "id_site", "session_type_services": "id_service",
	"test_type_projects": "id_project", "test_type_sites": "id_site",
	"session_participants_ids": "=id_participant", "session_users_ids": "=id_user", "session_devices_ids": "=id_device",
	// The participant and device APIs name a session's invitees by uuid.
	"session_participants": "=participant_uuid", "session_users": "=user_uuid", "session_devices": "=device_uuid",
}

// message builds the JSON object of a message: id fields become slots, other fields plausible
// values (OpenTera's bodies carry every key a client form has).
func (t *template) message(md protoreflect.MessageDescriptor, v *values, depth int, problems *[]string) map[string]any {
	obj := map[string]any{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := string(f.Name())
		if val, ok := t.field(f, name, v, depth, problems); ok {
			obj[name] = val
		}
	}
	return obj
}

func (t *template) idSlot(name string, v *values) *slot {
	ids := v.idValues(name)
	// Every id of the small tables; a sample of the big ones (sessions, roles; "id" is the
	// union of every table's ids).
	if name == "id" {
		ids = sample(ids, 12)
	} else {
		ids = sample(ids, 10)
	}
	s := &slot{field: name}
	for _, id := range ids {
		s.values = append(s.values, id)
	}
	t.slots = append(t.slots, s)
	return s
}

// uuidSlot is a uuid field set to every uuid of its kind (users, participants…), in and out of
// scope.
func (t *template) uuidSlot(name string, v *values) *slot {
	s := &slot{field: name}
	for _, u := range v.strings[name] {
		s.values = append(s.values, u)
	}
	t.slots = append(t.slots, s)
	return s
}

func isID(name string) bool {
	return name == "id" || strings.HasPrefix(name, "id_") && name != "id_specific"
}

func (t *template) field(f protoreflect.FieldDescriptor, name string, v *values, depth int, problems *[]string) (any, bool) {
	one := func() (any, bool) {
		if f.Kind() == protoreflect.MessageKind {
			switch f.Message().FullName() {
			case "google.protobuf.Value":
				if isID(name) {
					return t.idSlot(name, v), true
				}
				if depth == 0 {
					// A wrapper left free-form in the proto (OpenTera accepts an object or a
					// list): its shape is the response's item of the same name.
					if m := itemMessage(t.r.out, name); m != nil {
						t.fromOutput = true
						return t.message(m, v, depth+1, problems), true
					}
				}
				if strings.HasSuffix(name, "_uuid") {
					if len(v.strings[name]) == 0 {
						*problems = append(*problems, fmt.Sprintf("%s: uuid field %q has no values in stringSelectors", t.r.name, name))
						return nil, false
					}
					return t.uuidSlot(name, v), true
				}
				if strings.HasSuffix(name, "_config") || strings.HasSuffix(name, "_profile") || strings.HasSuffix(name, "_preference") ||
					strings.HasSuffix(name, "_variables") {
					return map[string]any{"matrix": true}, true
				}
				return strField{name}, true
			case "google.protobuf.ListValue":
				key, ok := listKeys[name]
				if !ok {
					if depth > 1 || t.fromOutput {
						return nil, false // output-only lists of an answer's items
					}
					*problems = append(*problems, fmt.Sprintf("%s: list %q has no element key in listKeys", t.r.name, name))
					return nil, false
				}
				if bare, ok := strings.CutPrefix(key, "="); ok {
					if strings.HasSuffix(bare, "_uuid") {
						return []any{t.uuidSlot(bare, v)}, true
					}
					return []any{t.idSlot(bare, v)}, true
				}
				return []any{map[string]any{key: t.idSlot(key, v)}}, true
			case "google.protobuf.Struct":
				return map[string]any{"matrix": true}, true
			case "google.protobuf.StringValue":
				return strField{name}, true
			case "google.protobuf.Int32Value", "google.protobuf.Int64Value":
				if isID(name) {
					return t.idSlot(name, v), true
				}
				return 4999, true
			case "google.protobuf.BoolValue":
				return false, true
			case "google.protobuf.Timestamp":
				return "2026-01-01T00:00:00Z", true
			}
			if depth > 2 {
				return nil, false
			}
			return t.message(f.Message(), v, depth+1, problems), true
		}
		switch f.Kind() {
		case protoreflect.StringKind:
			if strings.HasSuffix(name, "_uuid") || name == "uuid" {
				return nil, false
			}
			return strField{name}, true
		case protoreflect.BoolKind:
			return false, true
		case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
			protoreflect.Sint32Kind, protoreflect.Sint64Kind:
			if isID(name) {
				return t.idSlot(name, v), true
			}
			return 4999, true
		case protoreflect.DoubleKind, protoreflect.FloatKind:
			return 1.5, true
		case protoreflect.EnumKind:
			return nil, false
		}
		*problems = append(*problems, fmt.Sprintf("%s: field %s of kind %s is not built", t.r.name, name, f.Kind()))
		return nil, false
	}
	if f.IsMap() {
		return nil, false
	}
	if f.IsList() {
		x, ok := one()
		if !ok {
			return nil, false
		}
		return []any{x}, true
	}
	return one()
}

// itemMessage is the message of the response field named like a request wrapper (site_access →
// site_access, user_user_group → user_user_groups).
func itemMessage(out protoreflect.MessageDescriptor, name string) protoreflect.MessageDescriptor {
	for _, n := range []string{name, name + "s"} {
		if f := out.Fields().ByName(protoreflect.Name(n)); f != nil && f.Message() != nil {
			return f.Message()
		}
	}
	return nil
}

// queryUUIDs names the stringSelectors entry of a write's uuid query parameter ("<path>?<name>")
// where the name alone does not say what it identifies.
var queryUUIDs = map[string]string{"/api/service/assets?uuid": "asset_uuid", "/api/service/tests?uuid": "test_uuid",
	"/api/service/testtypes?uuid": "test_type_uuid"}

// writeTemplates are the templates of a gateway write route: one per wrapper of a "*" body
// (OpenTera accepts several, e.g. {"group": …} or {"participant_group": …}), one for a query.
func writeTemplates(r route, v *values) ([]*template, []string) {
	var problems []string
	var out []*template
	if r.body == "*" {
		fields := r.input.Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			t := &template{r: r}
			val, ok := t.field(f, string(f.Name()), v, 0, &problems)
			if !ok {
				continue
			}
			t.tree = map[string]any{string(f.Name()): val}
			out = append(out, t)
			out = append(out, singles(t)...)
		}
		if len(out) == 0 && len(problems) == 0 {
			problems = append(problems, r.name+": body with no field to build")
		}
		return out, problems
	}
	t := &template{r: r, tree: map[string]any{}}
	fields := r.input.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := string(f.Name())
		switch {
		case f.IsList():
		case isID(name):
			t.tree[name] = t.idSlot(name, v)
		case f.Kind() == protoreflect.StringKind && len(v.strings[cmp.Or(queryUUIDs[r.path+"?"+name], name)]) > 0:
			// A write by uuid (OpenTera's DELETE ?uuid= of assets and tests).
			s := &slot{field: name}
			for _, u := range v.strings[cmp.Or(queryUUIDs[r.path+"?"+name], name)] {
				s.values = append(s.values, u)
			}
			t.slots = append(t.slots, s)
			t.tree[name] = s
		}
	}
	if len(t.slots) == 0 {
		problems = append(problems, r.name+": query with no id field to target")
	}
	return []*template{t}, problems
}

// singles are, for a wrapper object, one template per field that is not an id: its ids and that
// field alone. A handler refuses a whole body for one field it does not take on that path (an
// immutable username on an update, exclusive owners): the full body alone would never reach the
// write of the others. Only the object's own id varies.
func singles(full *template) []*template {
	var out []*template
	for wrapper, x := range full.tree {
		obj, ok := x.(map[string]any)
		if !ok {
			continue
		}
		ids := map[string]any{}
		for k, e := range obj {
			if _, isSlot := e.(*slot); isSlot {
				ids[k] = e
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			if _, isID := ids[k]; !isID {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			body := map[string]any{k: obj[k]}
			for id, e := range ids {
				body[id] = e
			}
			t := &template{r: full.r, tree: map[string]any{wrapper: body}, primaryOnly: true}
			t.slots = reachable(t.tree, full.slots)
			out = append(out, t)
		}
	}
	return out
}

// reachable keeps the slots a tree still holds, in their original order.
func reachable(tree any, slots []*slot) []*slot {
	in := map[*slot]bool{}
	var walk func(x any)
	walk = func(x any) {
		switch y := x.(type) {
		case *slot:
			in[y] = true
		case map[string]any:
			for _, e := range y {
				walk(e)
			}
		case []any:
			for _, e := range y {
				walk(e)
			}
		}
	}
	walk(tree)
	var out []*slot
	for _, s := range slots {
		if in[s] {
			out = append(out, s)
		}
	}
	return out
}

// assignments are the slot values of a template's requests: every slot at its default (1 when
// it exists: the fixture's first object, in most accounts' scope), then each slot through each
// of its values with the others at their defaults.
func (t *template) assignments() []map[*slot]any {
	base := map[*slot]any{}
	for _, s := range t.slots {
		base[s] = def(s)
	}
	out := []map[*slot]any{base}
	vary := t.slots
	if t.primaryOnly && len(vary) > 0 {
		vary = vary[:1]
	}
	for _, s := range vary {
		for _, x := range s.values {
			if x == base[s] {
				continue
			}
			a := make(map[*slot]any, len(base))
			for k, val := range base {
				a[k] = val
			}
			a[s] = x
			out = append(out, a)
		}
	}
	return out
}

func def(s *slot) any {
	for _, x := range s.values {
		if x == int64(1) {
			return x
		}
	}
	if len(s.values) > 0 {
		return s.values[0]
	}
	return int64(0)
}

// materialize turns a template and an assignment into a request.
func (t *template) materialize(a map[*slot]any, v *values) request {
	r := request{route: t.r.name, method: t.r.method, path: t.r.path}
	var fill func(x any) any
	fill = func(x any) any {
		switch y := x.(type) {
		case *slot:
			return a[y]
		case strField:
			v.seq++
			if strings.HasSuffix(y.field, "password") && len(t.slots) > 0 && a[t.slots[0]] != int64(0) {
				// Passwords only on creates: OpenTera ignores an empty one on updates, and
				// each one costs a bcrypt hash.
				return ""
			}
			return stringFor(y.field, v.seq)
		case map[string]any:
			m := make(map[string]any, len(y))
			for k, e := range y {
				m[k] = fill(e)
			}
			return m
		case []any:
			l := make([]any, len(y))
			for i, e := range y {
				l[i] = fill(e)
			}
			return l
		}
		return x
	}
	tree := fill(t.tree).(map[string]any)
	if t.r.body == "*" {
		r.body, _ = json.Marshal(tree)
		return r
	}
	r.query = url.Values{}
	for k, x := range tree {
		r.query.Set(k, fmt.Sprint(x))
	}
	return r
}

// stringFor is a plausible value of a string field, unique per request.
func stringFor(field string, seq int) string {
	switch {
	case strings.HasSuffix(field, "password"):
		return "Matrix#Passw0rd" + strconv.Itoa(seq)
	case strings.HasSuffix(field, "email"):
		return fmt.Sprintf("mx%d@example.org", seq)
	case strings.HasSuffix(field, "_role") || strings.HasSuffix(field, "role_name") || strings.HasSuffix(field, "_access_role"):
		return "admin"
	case field == "service_key":
		return fmt.Sprintf("MX%d", seq)
	case strings.HasSuffix(field, "_username"):
		return fmt.Sprintf("mx%d", seq)
	}
	return fmt.Sprintf("mx-%d", seq)
}
