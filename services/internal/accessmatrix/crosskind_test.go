package accessmatrix_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/access"
)

// surfaces are OpenTera's four API surfaces: every route under one belongs to that kind of
// principal (LoginModule's decorators: user_multi_auth, participant_multi_auth,
// device_token_or_certificate_required, service_token_or_certificate_required), which answer
// 401 to any other credential.
var surfaces = []struct {
	prefix string
	kind   access.Kind
}{
	{"/api/user/", access.User}, {"/api/participant/", access.Participant},
	{"/api/device/", access.Device}, {"/api/service/", access.Service},
}

func surfaceOf(path string) (access.Kind, bool) {
	for _, s := range surfaces {
		if strings.HasPrefix(path, s.prefix) {
			return s.kind, true
		}
	}
	return "", false
}

// credential is one way a fixture principal (or nobody) authenticates.
type credential struct {
	name string
	kind access.Kind // "" for no credential at all
	// header is the Authorization header, token the ?token= parameter (either or neither).
	header, token string
}

// credentials are every kind's valid credentials, in the header and in ?token=, and none.
func (s *site) credentials(ctx context.Context) []credential {
	var adminUUID, staticToken string
	if err := s.db.QueryRow(ctx, "SELECT user_uuid FROM core.t_users WHERE id_user = 1").Scan(&adminUUID); err != nil {
		s.t.Fatal(err)
	}
	if err := s.db.QueryRow(ctx, "SELECT participant_token FROM core.t_participants WHERE id_participant = 1").Scan(&staticToken); err != nil {
		s.t.Fatal(err)
	}
	userToken, err := s.signer.UserToken(1, adminUUID, "Super Admin", true, nil, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	bare := func(h string) string { return strings.TrimPrefix(h, "OpenTera ") }
	participant := s.authorization(account{name: "participant1", kind: access.Participant, id: 1})
	service := s.authorization(account{name: "service VideoRehab", kind: access.Service, id: 6})
	return []credential{
		{name: "user Basic (admin)", kind: access.User, header: basic("admin", "admin")},
		{name: "user token (admin)", kind: access.User, header: "OpenTera " + userToken},
		{name: "user token (admin) in ?token=", kind: access.User, token: userToken},
		{name: "participant Basic (participant1)", kind: access.Participant, header: basic("participant1", "opentera")},
		{name: "participant token (dynamic)", kind: access.Participant, header: participant},
		{name: "participant token (dynamic) in ?token=", kind: access.Participant, token: bare(participant)},
		{name: "participant static token", kind: access.Participant, header: "OpenTera " + staticToken},
		{name: "device token", kind: access.Device, header: "OpenTera " + s.device},
		{name: "device token in ?token=", kind: access.Device, token: s.device},
		{name: "service token (VideoRehab)", kind: access.Service, header: service},
		{name: "service token (VideoRehab) in ?token=", kind: access.Service, token: bare(service)},
		{name: "no credential"},
	}
}

// entry is one method of one route on a principal kind's surface.
type entry struct {
	method, path string
	kind         access.Kind
	// credential is the route's own credential (server.Route.Credential), if it declares one.
	credential string
	json       bool // a gateway binding with a body: sent "{}"
}

// surfaceEntries lists what the process serves on the four surfaces: every gateway binding of
// its gRPC services and every method of its declared plain routes.
func surfaceEntries(s *site) ([]entry, []string) {
	svcs := map[string][]string{}
	for name, info := range s.srv.GRPCServices() {
		for _, m := range info.Methods {
			svcs[name] = append(svcs[name], m.Name)
		}
	}
	gw, problems := gatewayRoutes(svcs)
	var out []entry
	for _, r := range gw {
		if k, ok := surfaceOf(r.path); ok {
			out = append(out, entry{method: r.method, path: r.path, kind: k, json: r.body != ""})
		}
	}
	for _, rt := range s.srv.PlainRoutes() {
		k, ok := surfaceOf(rt.Path)
		if !ok {
			continue
		}
		for m := range rt.Methods {
			out = append(out, entry{method: m, path: rt.Path, kind: k, credential: rt.Credential})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].method < out[j].method
	})
	return out, problems
}

// sendAs sends one bodiless (or "{}") request of an entry with a credential.
func (s *site) sendAs(e entry, c credential) (int, string) {
	s.t.Helper()
	u := s.base + e.path
	if c.token != "" {
		u += "?" + url.Values{"token": {c.token}}.Encode()
	}
	var body io.Reader
	if e.json {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(e.method, u, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if e.json {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.header != "" {
		req.Header.Set("Authorization", c.header)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s with %s: %v", e.method, e.path, c.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// crossKind checks every entry against every credential that is not of its kind (and none):
// OpenTera answers 401 to each. A route declaring a credential of its own (the register key)
// is exempt from the 401, not from refusing: no principal's credential may stand in for its
// own, so it must answer with an error. Then every credential must be accepted somewhere on its
// own surface (a GET answering other than 401), or the 401s above would prove nothing.
// It returns the failures, one line each.
func crossKind(s *site, entries []entry, creds []credential) (failures []string, sent int) {
	accepted := map[string]bool{}
	for _, e := range entries {
		for _, c := range creds {
			if c.kind == e.kind {
				continue
			}
			code, body := s.sendAs(e, c)
			sent++
			switch {
			case e.credential != "" && (code < 400 || code >= 500):
				failures = append(failures, fmt.Sprintf("%s %s (own credential: %s) answered %s with %d %q: a principal's credential in place of its own",
					e.method, e.path, e.credential, c.name, code, body))
			case e.credential == "" && code != http.StatusUnauthorized:
				failures = append(failures, fmt.Sprintf("%s %s (a %s route) answered %s with %d %q, not 401",
					e.method, e.path, e.kind, c.name, code, body))
			}
		}
	}
	// Own-kind GETs last: they may log a token out (each credential here is fresh per site).
	for _, e := range entries {
		if e.method != http.MethodGet || e.credential != "" {
			continue
		}
		for _, c := range creds {
			if c.kind != e.kind || accepted[c.name] || strings.Contains(e.path, "logout") {
				continue
			}
			if code, _ := s.sendAs(e, c); code != http.StatusUnauthorized {
				accepted[c.name] = true
			}
			sent++
		}
	}
	for _, c := range creds {
		if c.kind != "" && !accepted[c.name] {
			failures = append(failures, fmt.Sprintf("%s is refused on every GET of its own surface: the 401s elsewhere prove nothing", c.name))
		}
	}
	return failures, sent
}

// TestCrossKindRefusals: every route of the user, participant, device and service surfaces
// refuses every other kind's credentials, and no credential at all, with 401 (issue 13), as
// OpenTera's LoginModule does; routes with a declared credential of their own refuse them all.
func TestCrossKindRefusals(t *testing.T) {
	s := newSite(t)
	entries, problems := surfaceEntries(s)
	if len(problems) > 0 {
		t.Fatalf("the routes cannot all be listed:\n  %s", strings.Join(problems, "\n  "))
	}
	perKind := map[access.Kind]int{}
	var own []string
	for _, e := range entries {
		perKind[e.kind]++
		if e.credential != "" {
			own = append(own, e.method+" "+e.path+": "+e.credential)
		}
	}
	for _, sf := range surfaces {
		if perKind[sf.kind] == 0 {
			t.Fatalf("no route on %s: the listing is broken", sf.prefix)
		}
	}
	failures, sent := crossKind(s, entries, s.credentials(context.Background()))
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d requests over %d route methods (user %d, participant %d, device %d, service %d); own credentials:\n  %s",
		sent, len(entries), perKind[access.User], perKind[access.Participant], perKind[access.Device], perKind[access.Service],
		strings.Join(own, "\n  "))
}

// leaky serves the routes the check must catch: a public route that authenticates nobody, a
// route admitting two kinds, and a route with a credential of its own that lets anyone in.
type leaky struct{}

func (leaky) Name() string                                                               { return "leaky" }
func (leaky) RegisterGRPC(*grpc.Server)                                                  {}
func (leaky) RegisterGateway(context.Context, *runtime.ServeMux, *grpc.ClientConn) error { return nil }
func (leaky) HTTPRoutes() []server.Route {
	ok := map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("in")) }}
	return []server.Route{
		{Path: "/api/participant/matrix-public", Methods: ok, Access: &optionsv1.Access{Public: true}},
		{Path: "/api/participant/matrix-two-kinds", Methods: ok, Access: &optionsv1.Access{
			Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_PARTICIPANT, optionsv1.Principal_PRINCIPAL_USER}}},
		{Path: "/api/device/matrix-own-key", Methods: ok, Access: &optionsv1.Access{Public: true}, Credential: "a key it never checks"},
		{Path: "/api/device/matrix-device-only", Methods: ok, Access: &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_DEVICE}}},
	}
}

// The check itself: on a process serving leaky routes beside every target's, it lists them,
// and reports each leaky one for exactly the credentials it lets through.
func TestCrossKindCheckFindsLeaks(t *testing.T) {
	s := newSiteWith(t, leaky{})
	all, problems := surfaceEntries(s)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	var entries []entry
	for _, e := range all {
		if strings.Contains(e.path, "/matrix-") {
			entries = append(entries, e)
		}
	}
	if len(entries) != 4 {
		t.Fatalf("the listing holds %d of the 4 leaky routes: %+v", len(entries), entries)
	}
	creds := s.credentials(context.Background())
	failures, _ := crossKind(s, entries, creds)
	count := map[string]int{}
	for _, f := range failures {
		for _, p := range []string{"matrix-public", "matrix-two-kinds", "matrix-own-key", "matrix-device-only"} {
			if strings.Contains(f, "/"+p+" ") {
				count[p]++
			}
		}
	}
	others := func(k access.Kind) int {
		n := 0
		for _, c := range creds {
			if c.kind != k {
				n++
			}
		}
		return n
	}
	users := 0
	for _, c := range creds {
		if c.kind == access.User {
			users++
		}
	}
	want := map[string]int{
		"matrix-public":      others(access.Participant), // everyone else gets in
		"matrix-two-kinds":   users,                      // the users get in; nobody else
		"matrix-own-key":     others(access.Device),
		"matrix-device-only": 0,
	}
	for p, n := range want {
		if count[p] != n {
			t.Errorf("%s: %d failures, want %d", p, count[p], n)
		}
	}
	if t.Failed() {
		t.Logf("failures:\n  %s", strings.Join(failures, "\n  "))
	}
}
