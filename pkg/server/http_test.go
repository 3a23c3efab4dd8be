package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteJSON(t *testing.T) {
	for _, c := range []struct {
		name     string
		code     int
		v        any
		wantCode int
		wantBody string
	}{
		{"value", http.StatusCreated, map[string]any{"id_asset": 3, "asset_name": "a\"b"}, http.StatusCreated, `{"asset_name":"a\"b","id_asset":3}` + "\n"},
		{"message", http.StatusForbidden, "Forbidden", http.StatusForbidden, `"Forbidden"` + "\n"},
		{"null", http.StatusOK, nil, http.StatusOK, "null\n"},
		// A value that does not marshal answers 500 with a whole JSON body, not the code asked for.
		{"unmarshalable", http.StatusOK, map[string]any{"f": func() {}}, http.StatusInternalServerError, `"Internal Server Error"` + "\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteJSON(w, c.code, c.v)
			if w.Code != c.wantCode || w.Body.String() != c.wantBody || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %q (Content-Type %q), want %d %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"), c.wantCode, c.wantBody)
			}
		})
	}
}
