package server

import (
	"net/http"
	"testing"
)

// A query value that is not UTF-8 cannot be marshaled for gRPC: the client gets OpenTera's 400,
// not a 500 (found by the core target's query-string fuzzing).
func TestQueryValueNotUTF8Is400(t *testing.T) {
	f := start(t)
	code, body, _ := get(t, f.base+"/api/testing/echo?message=%ff%fe")
	if code != http.StatusBadRequest {
		t.Fatalf("non-UTF-8 query value: %d %s", code, body)
	}
	if code, body, _ = get(t, f.base+"/api/testing/echo?message=caf%C3%A9"); code != http.StatusOK {
		t.Fatalf("UTF-8 query value: %d %s", code, body)
	}
}
