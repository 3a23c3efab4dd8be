package docui

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Surface is one of OpenTera's API namespaces, in OpenTera's order (FlaskModule: user, device,
// participant, service); Document tags every operation with the surface its path belongs to,
// so the page groups them as OpenTera's /doc does.
type Surface struct {
	Tag, Prefix, Description string
	// Security lists the schemes the surface accepts (any one of them).
	Security []string
}

// Authentication schemes declared in the document. OpenTera and Bearer are both the
// Authorization header (Swagger 2.0 has no bearer type): the value is "OpenTera <token>" or
// "Bearer <token>"; the page prefixes a bare token with "OpenTera ".
const (
	SchemeBasic    = "basicAuth"
	SchemeOpenTera = "OpenTera"
	SchemeBearer   = "Bearer"
)

// Surfaces in display order; operations matching none are Tera's own, listed last.
var Surfaces = []Surface{
	{"user", "/api/user/", "API for user calls (OpenTera's user namespace)", []string{SchemeBasic, SchemeOpenTera, SchemeBearer}},
	{"device", "/api/device/", "API for device calls (OpenTera's device namespace)", []string{SchemeOpenTera, SchemeBearer}},
	{"participant", "/api/participant/", "API for participant calls (OpenTera's participant namespace)", []string{SchemeBasic, SchemeOpenTera, SchemeBearer}},
	{"service", "/api/service/", "API for service calls (OpenTera's service namespace)", []string{SchemeOpenTera, SchemeBearer}},
}

// TeraSurface holds what Tera serves beyond OpenTera's API.
var TeraSurface = Surface{"tera", "", "Tera's own API (not part of OpenTera)", []string{SchemeBasic, SchemeOpenTera, SchemeBearer}}

const description = `OpenTera's REST API as served by Tera, grouped like OpenTera's own documentation.

**Authentication** ("Authorize" above, then "Try it out"):
- *basicAuth*: a user's or participant's username and password (user and participant APIs).
- *OpenTera*: ` + "`Authorization: OpenTera <token>`" + `, the token returned by a ` + "`/api/<kind>/login`" + `; paste the token alone and the page adds the prefix.
- *Bearer*: ` + "`Authorization: Bearer <token>`" + `, the same token in the standard form.

Every operation is also served over gRPC (see the operation id: ` + "`<Service>_<Method>`" + `), with reflection.`

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

// Document rewrites the merged document protoc-gen-openapiv2 generates into the one /doc serves:
// titled "Tera API" with the build version (the merge otherwise takes the first proto file's
// name and "version not set"), every operation tagged by its surface, and the authentication
// schemes declared with each surface's requirements so "Try it out" sends credentials.
func Document(spec []byte, version string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	if doc["swagger"] != "2.0" {
		return nil, errors.New("OpenAPI document: want swagger 2.0")
	}
	if version == "" {
		version = "dev"
	}
	doc["info"] = map[string]any{"title": "Tera API", "version": version, "description": description}
	doc["securityDefinitions"] = map[string]any{
		SchemeBasic: map[string]any{"type": "basic", "description": "username and password"},
		SchemeOpenTera: map[string]any{"type": "apiKey", "in": "header", "name": "Authorization",
			"description": "OpenTera <token> (a bare token gets the OpenTera prefix)"},
		SchemeBearer: map[string]any{"type": "apiKey", "in": "header", "name": "Authorization", "description": "Bearer <token>"},
	}
	doc["security"] = requirements(TeraSurface.Security)

	used := map[string]bool{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("OpenAPI document: path %s is not an object", path)
		}
		s := surfaceOf(path)
		for _, m := range methods {
			op, ok := ops[m].(map[string]any)
			if !ok {
				continue
			}
			op["tags"] = []string{s.Tag}
			op["security"] = requirements(s.Security)
			used[s.Tag] = true
		}
	}
	// The tags array orders the page's groups; empty surfaces are left out.
	var tags []any
	for _, s := range append(append([]Surface{}, Surfaces...), TeraSurface) {
		if used[s.Tag] {
			tags = append(tags, map[string]any{"name": s.Tag, "description": s.Description})
		}
	}
	doc["tags"] = tags
	return json.MarshalIndent(doc, "", "  ")
}

func surfaceOf(path string) Surface {
	for _, s := range Surfaces {
		if strings.HasPrefix(path, s.Prefix) {
			return s
		}
	}
	return TeraSurface
}

// requirements is a Swagger security list: any one of the schemes satisfies it.
func requirements(schemes []string) []any {
	out := make([]any, 0, len(schemes))
	for _, s := range schemes {
		out = append(out, map[string]any{s: []string{}})
	}
	return out
}
