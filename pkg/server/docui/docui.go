// Package docui serves the OpenAPI document and a browsable Swagger UI for it at /doc. The UI
// assets are vendored from the swagger-ui-dist npm package (Apache-2.0, see assets/LICENSE), so
// the page works without internet access.
package docui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tera API</title>
<link rel="stylesheet" href="/doc/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/doc/assets/swagger-ui-bundle.js"></script>
<script>
// OpenTera's order inside a group: by path, then get, post, delete.
const verbs = {get: 0, put: 1, post: 2, patch: 3, delete: 4};
window.ui = SwaggerUIBundle({
  // Tags start collapsed: with every surface's 145 operations expanded at once, Swagger UI
  // rendered only the first group's header and none of its operations.
  url: "/doc/openapi.json", dom_id: "#swagger-ui", deepLinking: true, displayOperationId: true, docExpansion: "none",
  operationsSorter: (a, b) => a.get("path").localeCompare(b.get("path")) || (verbs[a.get("method")] ?? 9) - (verbs[b.get("method")] ?? 9),
  // The OpenTera scheme is the Authorization header: a pasted bare token gets its prefix.
  requestInterceptor: (req) => {
    const h = req.headers["Authorization"];
    if (h && !/\s/.test(h.trim())) req.headers["Authorization"] = "OpenTera " + h.trim();
    return req;
  },
});
</script>
</body>
</html>
`

// Register adds /doc (the UI), /doc/openapi.json and /doc/assets/ to mux.
func Register(mux *http.ServeMux, spec []byte) {
	sub, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /doc/assets/", http.StripPrefix("/doc/assets/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /doc/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		if len(spec) == 0 {
			http.Error(w, "no OpenAPI document", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(spec)
	})
	serve := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}
	mux.HandleFunc("GET /doc", serve)
	mux.HandleFunc("GET /doc/{$}", serve)
}
