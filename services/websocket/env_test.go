package websocket_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/testenv"
	tws "github.com/tera-health/tera/services/websocket"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one site on OpenTera's fixture, with its own NATS (fixture uuids repeat across tests,
// so presence must not be shared), running every target in one process unless told otherwise.
type env struct {
	t    testing.TB
	site *fleettest.Site
	db   *pgxpool.Pool
	nc   *nats.Conn
	// publicURL is the site's public URL (websocket_url's base); https://tera.test unless set.
	publicURL string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	site := fleettest.NewSite(t)
	e := &env{t: t, site: site, db: site.DB}
	var err error
	if e.nc, err = nats.Connect(site.NATSURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	return e
}

// process starts the targets of spec in one process and returns its base URL.
func (e *env) process(spec string) string {
	e.t.Helper()
	base, _ := e.stoppableProcess(spec)
	return base
}

// stoppableProcess is process with a stop that shuts the process down and waits for it (also
// run at cleanup; a second call does nothing).
func (e *env) stoppableProcess(spec string) (string, func()) {
	e.t.Helper()
	return e.site.Start(spec, func(cfg *fleet.Config) {
		cfg.ShutdownTimeout = config.Duration(2 * time.Second)
		cfg.Database.MaxConns = 6
		cfg.PublicURL = "https://tera.test"
		if e.publicURL != "" {
			cfg.PublicURL = e.publicURL
		}
	})
}

type response struct {
	code int
	body []byte
}

func (r response) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r response) list(t testing.TB) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return l
}

type auth struct {
	user, pass string
	token      string
}

func do(t testing.TB, method, u string, a auth, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if a.user != "" {
		r.SetBasicAuth(a.user, a.pass)
	}
	if a.token != "" {
		r.Header.Set("Authorization", "OpenTera "+a.token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: b}
}

func (e *env) scalar(q string, args ...any) string {
	e.t.Helper()
	var v string
	if err := e.db.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return v
}

// wsPath logs in with a websocket and returns the websocket_url's path and query.
func wsPath(t testing.TB, base, kind string, a auth) string {
	t.Helper()
	q := "?with_websocket=true"
	r := do(t, http.MethodGet, base+"/api/"+kind+"/login"+q, a, "")
	if r.code != http.StatusOK {
		t.Fatalf("%s login: %d %s", kind, r.code, r.body)
	}
	raw, _ := r.obj(t)["websocket_url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Path != "/wss/"+kind || u.Query().Get("id") == "" {
		t.Fatalf("websocket_url %q", raw)
	}
	return u.Path + "?" + u.RawQuery
}

// socket is a test client reading frames in the background.
type socket struct {
	t      testing.TB
	who    string // <kind>.<uuid>
	c      *websocket.Conn
	frames chan []byte
	closed chan error
}

func dial(t testing.TB, base, path string) (*socket, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+path, nil)
	if err != nil {
		return nil, resp, err
	}
	s := &socket{t: t, c: c, frames: make(chan []byte, 100), closed: make(chan error, 1)}
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				s.closed <- err
				close(s.frames)
				return
			}
			s.frames <- b
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return s, resp, nil
}

func mustDial(t testing.TB, base, path string) *socket {
	t.Helper()
	s, resp, err := dial(t, base, path)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (%d)", path, err, code)
	}
	return s
}

// next returns the next frame.
func (s *socket) next() []byte {
	s.t.Helper()
	select {
	case b, ok := <-s.frames:
		if !ok {
			s.t.Fatalf("socket closed: %v", <-s.closed)
		}
		return b
	case <-time.After(15 * time.Second):
		s.t.Fatal("no frame within 15 s")
	}
	return nil
}

var timeRe = regexp.MustCompile(`"time": ([^,\n]+),`)

// wantFrame reads the next frame and checks it is, byte for byte, OpenTera's frame of msgs
// (with the header time the server put).
func (s *socket) wantFrame(topic string, msgs ...proto.Message) {
	s.t.Helper()
	s.checkFrame(s.next(), topic, msgs...)
}

// wantFrameSkipping is wantFrame ignoring frames that contain skip (events of another
// subscription, whose order relative to this one NATS does not fix).
func (s *socket) wantFrameSkipping(skip, topic string, msgs ...proto.Message) {
	s.t.Helper()
	for {
		f := s.next()
		if !strings.Contains(string(f), skip) {
			s.checkFrame(f, topic, msgs...)
			return
		}
	}
}

func (s *socket) checkFrame(got []byte, topic string, msgs ...proto.Message) {
	s.t.Helper()
	m := timeRe.FindSubmatch(got)
	if m == nil {
		s.t.Fatalf("frame without a header time: %s", got)
	}
	tm, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		s.t.Fatalf("frame time %s: %v", m[1], err)
	}
	ev := &eventsv1.TeraEvent{Header: &eventsv1.TeraEvent_Header{Version: 1, Time: tm, Topic: topic}}
	for _, msg := range msgs {
		a, _ := anypb.New(msg)
		ev.Events = append(ev.Events, a)
	}
	want, err := tws.Frame(ev)
	if err != nil {
		s.t.Fatal(err)
	}
	if string(got) != string(want) {
		s.t.Fatalf("frame\n got: %s\nwant: %s", got, want)
	}
}

// wantClose waits for the server to close the socket with code.
func (s *socket) wantClose(code websocket.StatusCode) {
	s.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case b, ok := <-s.frames:
			if !ok {
				err := <-s.closed
				if got := websocket.CloseStatus(err); got != code {
					s.t.Fatalf("closed with %d (%v), want %d", got, err, code)
				}
				return
			}
			_ = b // frames sent before the close
		case <-deadline:
			s.t.Fatalf("socket not closed with %d within 15 s", code)
		}
	}
}

// barrier publishes a StopSessionEvent (every client it reaches receives it) on subject, and one
// on a broadcast subject, and reads each socket's frames up to the markers that reach it:
// whatever it was sent before on that subject is returned. NATS orders messages per
// subscription only, hence one marker on the subject under test.
func (e *env) barrier(subject string, socks ...*socket) [][]string {
	e.t.Helper()
	marker := func(subj string) string {
		session := "barrier-" + authn.RandomHex(4)
		ev, err := presence.Event(&eventsv1.StopSessionEvent{SessionUuid: session})
		if err != nil {
			e.t.Fatal(err)
		}
		b, _ := proto.Marshal(ev)
		if err := e.nc.Publish(subj, b); err != nil {
			e.t.Fatal(err)
		}
		return session
	}
	onSubject, broadcast := marker(subject), marker("tera.service.barrier.events")
	out := make([][]string, len(socks))
	for i, s := range socks {
		want := map[string]bool{broadcast: true}
		// Clients hear a client's subject if theirs, a session's never (usermanager's and the
		// SFU's), the others always.
		if !strings.HasPrefix(subject, "tera.client.") && !strings.HasPrefix(subject, "tera.session.") || subject == "tera.client."+s.who {
			want[onSubject] = true
		}
		for len(want) > 0 {
			f := string(s.next())
			seen := false
			for m := range want {
				if strings.Contains(f, m) {
					delete(want, m)
					seen = true
				}
			}
			if !seen {
				out[i] = append(out[i], f)
			}
		}
	}
	return out
}

// online lists the uuids /api/user/<kind>s/online answers for a caller.
func online(t testing.TB, base, kind string, a auth) []string {
	t.Helper()
	r := do(t, http.MethodGet, base+"/api/user/"+kind+"s/online", a, "")
	if r.code != http.StatusOK {
		t.Fatalf("%s online: %d %s", kind, r.code, r.body)
	}
	var out []string
	for _, o := range r.list(t) {
		out = append(out, o[kind+"_uuid"].(string))
	}
	return out
}

// eventually retries cond until it holds or 15 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var errNotFound = errors.New("not found")
