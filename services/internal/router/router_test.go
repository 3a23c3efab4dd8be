package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func backend(name string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
}

func TestLongestPrefixAndRoundRobin(t *testing.T) {
	core1, core2, login := backend("core1"), backend("core2"), backend("login")
	defer core1.Close()
	defer core2.Close()
	defer login.Close()
	r, err := New([]Route{{Prefix: "/api", Target: "core"}, {Prefix: "/api/user/login", Target: "login"}},
		map[string][]string{"core": {core1.URL, core2.URL}, "login": {login.URL}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/api/user/login"); got != "login" {
		t.Errorf("login path went to %s", got)
	}
	// By path element, as an Ingress Prefix path: /api/user/loginx is not under /api/user/login.
	if got := get("/api/user/loginx"); got != "core1" && got != "core2" {
		t.Errorf("/api/user/loginx went to %s", got)
	}
	a, b := get("/api/user/sites"), get("/api/user/sites")
	if a == b || (a != "core1" && a != "core2") {
		t.Errorf("replicas not rotated: %s then %s", a, b)
	}
	resp, _ := http.Get(srv.URL + "/elsewhere")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unrouted path: %d", resp.StatusCode)
	}
	if _, err := New([]Route{{Prefix: "/x", Target: "ghost"}}, nil); err == nil {
		t.Error("route to a target without replicas accepted")
	}
}
