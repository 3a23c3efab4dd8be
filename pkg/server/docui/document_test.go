package docui

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDocumentGroupsBySurfaceInOpenTerasOrder(t *testing.T) {
	op := `{"get": {"operationId": "X", "tags": ["SomeService"]}}`
	spec := `{"swagger": "2.0", "info": {"title": "tera/options/v1/options.proto", "version": "version not set"}, "paths": {
		"/api/service/participants": ` + op + `, "/api/user/sites": ` + op + `, "/wss/user": ` + op + `,
		"/api/participant/sessions": ` + op + `, "/api/device/sessions": ` + op + `}}`
	out, err := Document([]byte(spec), "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Info  struct{ Title, Version string }
		Tags  []struct{ Name string }
		Paths map[string]map[string]struct {
			Tags     []string
			Security []map[string][]string
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Title != "Tera API" || doc.Info.Version != "v1.2.3" {
		t.Errorf("info %+v", doc.Info)
	}
	var order []string
	for _, tg := range doc.Tags {
		order = append(order, tg.Name)
	}
	if want := []string{"user", "device", "participant", "service", "tera"}; !reflect.DeepEqual(order, want) {
		t.Errorf("tag order %v, want %v", order, want)
	}
	for path, want := range map[string]struct {
		tag     string
		schemes []string
	}{
		"/api/user/sites":           {"user", []string{SchemeBasic, SchemeOpenTera, SchemeBearer}},
		"/api/device/sessions":      {"device", []string{SchemeOpenTera, SchemeBearer}},
		"/api/participant/sessions": {"participant", []string{SchemeBasic, SchemeOpenTera, SchemeBearer}},
		"/api/service/participants": {"service", []string{SchemeOpenTera, SchemeBearer}},
		"/wss/user":                 {"tera", []string{SchemeBasic, SchemeOpenTera, SchemeBearer}},
	} {
		get := doc.Paths[path]["get"]
		var schemes []string
		for _, req := range get.Security {
			for s := range req {
				schemes = append(schemes, s)
			}
		}
		if !reflect.DeepEqual(get.Tags, []string{want.tag}) || !reflect.DeepEqual(schemes, want.schemes) {
			t.Errorf("%s: tags %v security %v, want %s %v", path, get.Tags, schemes, want.tag, want.schemes)
		}
	}
	if _, err := Document([]byte(`{"openapi": "3.0.0"}`), "v1"); err == nil {
		t.Error("an OpenAPI 3 document was accepted")
	}
}
