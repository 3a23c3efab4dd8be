package videorehab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a site on OpenTera's fixture with its own NATS, whose processes (core, usermanager
// and videorehab unless told otherwise) can be stopped and started again on the same state.
type env struct {
	t      *testing.T
	site   *fleettest.Site
	db     *pgxpool.Pool
	nc     *nats.Conn
	signer *authn.Signer
	events *recorder
	base   string
	stop   func()
	// configure changes each process's configuration (nil: none).
	configure func(*fleet.Config)
}

func newEnv(t *testing.T, spec string) *env {
	t.Helper()
	return newEnvWith(t, spec, nil)
}

func newEnvWith(t *testing.T, spec string, configure func(*fleet.Config)) *env {
	t.Helper()
	site := fleettest.NewSite(t)
	e := &env{t: t, site: site, db: site.DB, signer: site.Signer(), configure: configure}
	var err error
	if e.nc, err = nats.Connect(site.NATSURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	e.events = record(t, e.nc)
	e.start(spec)
	return e
}

// start runs the targets of spec in one process (stopping the previous one first).
func (e *env) start(spec string) {
	e.t.Helper()
	if e.stop != nil {
		e.stop()
	}
	e.base, e.stop = e.process(spec, e.configure)
}

// process starts a process of the site running spec's targets and returns its URL and the
// function that stops it (also run at cleanup) once it is ready.
func (e *env) process(spec string, configure func(*fleet.Config)) (string, func()) {
	t := e.t
	t.Helper()
	base, stop := e.site.Start(spec, func(cfg *fleet.Config) {
		cfg.ShutdownTimeout = config.Duration(2 * time.Second)
		cfg.Database.MaxConns = 6
		cfg.PublicURL = "https://tera.test"
		cfg.VideoRehab.ListenIPs = []string{"127.0.0.1"} // the test peers use loopback only
		if configure != nil {
			configure(cfg)
		}
	})
	if strings.Contains(spec, "videorehab") || spec == "all" {
		// The RPC service registers in the background: wait until it answers.
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := e.nc.Request("tera.service.VideoRehabService.rpc.session_manage", []byte(`{}`), 5*time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("session_manage not served: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return base, stop
}

// scalar reads one value.
func (e *env) scalar(q string, args ...any) string {
	e.t.Helper()
	var s string
	if err := e.db.QueryRow(context.Background(), q, args...).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return s
}

// Callers: "basic:<user>:<password>" or "token:<raw>".
func (e *env) userToken(username string) string {
	e.t.Helper()
	var id int64
	var uuid, name string
	var super bool
	if err := e.db.QueryRow(context.Background(), `SELECT id_user, user_uuid, user_firstname || ' ' || user_lastname, user_superadmin
		FROM core.t_users WHERE user_username = $1`, username).Scan(&id, &uuid, &name, &super); err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.signer.UserToken(id, uuid, name, super, nil, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return "token:" + tok
}

func (e *env) serviceToken(key string) string {
	e.t.Helper()
	tok, err := e.signer.ServiceToken(e.scalar(`SELECT service_uuid FROM core.t_services WHERE service_key = $1`, key))
	if err != nil {
		e.t.Fatal(err)
	}
	return "token:" + tok
}

func (e *env) participantToken(id int64) string {
	e.t.Helper()
	var uuid, name string
	if err := e.db.QueryRow(context.Background(), `SELECT participant_uuid, participant_name FROM core.t_participants WHERE id_participant = $1`,
		id).Scan(&uuid, &name); err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.signer.ParticipantToken(id, uuid, name, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return "token:" + tok
}

// do sends a request and returns the status and body.
func (e *env) do(who, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok, ok := strings.CutPrefix(who, "token:"); ok {
		req.Header.Set("Authorization", "OpenTera "+tok)
	} else if b, ok := strings.CutPrefix(who, "basic:"); ok {
		u, p, _ := strings.Cut(b, ":")
		req.SetBasicAuth(u, p)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// manage POSTs {"session_manage": m} to the user API's manager and returns the answer,
// expecting 200; manageSvc to the service API's.
func (e *env) manage(who string, m map[string]any) map[string]any {
	e.t.Helper()
	return e.manageAt("/api/user/sessions/manager", who, m)
}

func (e *env) manageSvc(who string, m map[string]any) map[string]any {
	e.t.Helper()
	return e.manageAt("/api/service/sessions/manager", who, m)
}

func (e *env) manageAt(path, who string, m map[string]any) map[string]any {
	e.t.Helper()
	st, body := e.do(who, http.MethodPost, path, map[string]any{"session_manage": m})
	if st != http.StatusOK {
		e.t.Fatalf("POST %s %v: %d %s", path, m, st, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatalf("answer %s: %v", body, err)
	}
	return out
}

// started checks a start's answer and returns its session.
func started(t *testing.T, a map[string]any) map[string]any {
	t.Helper()
	s, ok := a["session"].(map[string]any)
	if a["status"] != "started" || !ok {
		t.Fatalf("start answered %v", a)
	}
	return s
}

// sessionRow is a session's status and duration in core.
func (e *env) sessionRow(id any) (status, duration int) {
	e.t.Helper()
	if err := e.db.QueryRow(context.Background(), `SELECT session_status, session_duration FROM core.t_sessions WHERE id_session = $1`,
		int(id.(float64))).Scan(&status, &duration); err != nil {
		e.t.Fatal(err)
	}
	return status, duration
}

// eventTypes lists a session's event types in order.
func (e *env) eventTypes(id any) []int {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT id_session_event_type FROM core.t_sessions_events WHERE id_session = $1
		AND deleted_at IS NULL ORDER BY id_session_event`, int(id.(float64)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

// recorder keeps every session and client event published, by subject.
type recorder struct {
	t  *testing.T
	mu sync.Mutex
	// got holds (subject, event) in order of arrival.
	got  []recorded
	wake chan struct{}
}

type recorded struct {
	subject string
	msg     proto.Message
}

func record(t *testing.T, nc *nats.Conn) *recorder {
	r := &recorder{t: t, wake: make(chan struct{}, 1)}
	for _, subj := range []string{"tera.session.>", "tera.client.>"} {
		sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
			var te eventsv1.TeraEvent
			if proto.Unmarshal(m.Data, &te) != nil {
				return
			}
			for _, a := range te.Events {
				msg, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
				if err != nil {
					continue
				}
				r.mu.Lock()
				r.got = append(r.got, recorded{m.Subject, msg})
				r.mu.Unlock()
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// take waits for an event on subject matching ok and removes it (and whatever came before it
// on that subject); the wait is a safety net against a hang, not an assertion on time.
func take[T proto.Message](r *recorder, subject string, ok func(T) bool) T {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		for i, g := range r.got {
			if g.subject != subject {
				continue
			}
			if m, is := g.msg.(T); is && (ok == nil || ok(m)) {
				r.got = append(r.got[:i:i], r.got[i+1:]...)
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-deadline:
			var zero T
			r.t.Fatalf("no %T on %s; got %v", zero, subject, r.subjects())
			return zero
		}
	}
}

// none checks nothing of type T arrived on subject, after a barrier message on the same
// connection proves earlier publishes were delivered.
func none[T proto.Message](r *recorder, nc *nats.Conn, subject string) {
	r.t.Helper()
	barrier := "tera.client.user.barrier-" + authn.RandomHex(4)
	ev, _ := presence.Event(&eventsv1.StopSessionEvent{SessionUuid: "barrier"})
	b, _ := proto.Marshal(ev)
	if err := nc.Publish(barrier, b); err != nil {
		r.t.Fatal(err)
	}
	take[*eventsv1.StopSessionEvent](r, barrier, nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if _, is := g.msg.(T); is && g.subject == subject {
			r.t.Fatalf("unexpected %T on %s: %v", g.msg, subject, g.msg)
		}
	}
}

func (r *recorder) subjects() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, g := range r.got {
		out = append(out, g.subject+" "+string(proto.MessageName(g.msg).Name()))
	}
	return out
}

// clear forgets what was recorded.
func (r *recorder) clear() {
	r.mu.Lock()
	r.got = nil
	r.mu.Unlock()
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
