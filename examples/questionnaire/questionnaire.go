package main

import (
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/servicekit"
)

// questions is what every session type of this service asks (a real service would keep a
// questionnaire per session type in its own database, or in the session type's config).
var questions = []string{"How did you sleep?", "How much pain do you feel (0-10)?", "Did you do your exercises?"}

// adminRole is the service role (t_services_roles) that lets a user read the answers.
const adminRole = "admin"

type questionnaire struct {
	kit    *servicekit.Kit
	prefix string
	log    *slog.Logger

	mu      sync.Mutex
	answers map[int64][]string // id_participant → answers
	events  []eventSeen
}

type eventSeen struct {
	Model  string          `json:"model"`
	Verb   string          `json:"verb"`
	Object json.RawMessage `json:"object"`
}

func newQuestionnaire(kit *servicekit.Kit, prefix string, log *slog.Logger) *questionnaire {
	return &questionnaire{kit: kit, prefix: prefix, log: log, answers: map[int64][]string{}}
}

// routes serve everything under the prefix, the service_clientendpoint the ingress routes here.
func (q *questionnaire) routes() http.Handler {
	v := q.kit.Verifier
	mux := http.NewServeMux()
	// Probes of the pod (not routed by the ingress, which only sends the prefix here).
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	mux.HandleFunc("GET /livez", ok)
	mux.HandleFunc("GET /readyz", ok)
	mux.HandleFunc("GET "+q.prefix+"/healthz", ok)
	// The page and the answers: participants only (a user token is refused).
	mux.Handle("GET "+q.prefix+"/{$}", v.Require(http.HandlerFunc(q.page), authn.KindParticipant))
	mux.Handle("POST "+q.prefix+"/answers", v.Require(http.HandlerFunc(q.saveAnswers), authn.KindParticipant))
	// For the service's administrators: users holding its admin role (or superadmins).
	mux.Handle("GET "+q.prefix+"/api/answers", v.Require(q.admin(q.listAnswers), authn.KindUser))
	mux.Handle("GET "+q.prefix+"/api/events", v.Require(q.admin(q.listEvents), authn.KindUser))
	mux.Handle("GET "+q.prefix+"/api/participants", v.Require(q.admin(q.listParticipants), authn.KindUser))
	return mux
}

func (q *questionnaire) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !servicekit.IdentityFrom(r.Context()).HasRole(q.kit.Config.ServiceKey, adminRole) {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Questionnaire</title></head>
<body><h1>Hello {{.Name}}</h1>
<form method="post" action="answers?token={{.Token}}">
{{range $i, $q := .Questions}}<p><label>{{$q}}<br><input name="a{{$i}}" required></label></p>
{{end}}<button type="submit">Send</button></form></body></html>
`))

func (q *questionnaire) page(w http.ResponseWriter, r *http.Request) {
	id := servicekit.IdentityFrom(r.Context())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, map[string]any{"Name": id.Name, "Token": servicekit.TokenOf(r), "Questions": questions})
}

func (q *questionnaire) saveAnswers(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	var got []string
	for i := range questions {
		a := r.PostForm.Get("a" + strconv.Itoa(i))
		if a == "" {
			http.Error(w, "every question needs an answer", http.StatusBadRequest)
			return
		}
		got = append(got, a)
	}
	id := servicekit.IdentityFrom(r.Context())
	q.mu.Lock()
	q.answers[id.ID] = got
	q.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!doctype html><p>Thank you.</p>"))
}

func (q *questionnaire) listAnswers(w http.ResponseWriter, _ *http.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	writeJSON(w, q.answers)
}

func (q *questionnaire) listEvents(w http.ResponseWriter, _ *http.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	writeJSON(w, append([]eventSeen{}, q.events...))
}

// listParticipants reads the participants of a project through the service API, as the service
// (its token, its roles and links), not as the user who asked.
func (q *questionnaire) listParticipants(w http.ResponseWriter, r *http.Request) {
	var out json.RawMessage
	err := q.kit.API.Get(r.Context(), "/api/service/participants", url.Values{"id_project": {r.URL.Query().Get("id_project")}}, &out)
	if err != nil {
		q.log.Warn("service API", "err", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// sessionTypeConfig answers OpenTera's session_type_config RPC: the configuration a client
// uses to run a session of one of this service's session types.
func (q *questionnaire) sessionTypeConfig(_ context.Context, req json.RawMessage) (any, error) {
	var r struct {
		ID int `json:"id_session_type"`
	}
	if err := json.Unmarshal(req, &r); err != nil || r.ID <= 0 {
		return nil, &servicekit.RPCError{Code: 400, Description: "id_session_type must be a positive integer"}
	}
	return map[string]any{"id_session_type": r.ID, "questions": questions}, nil
}

// onEvent keeps the last events (shown at /api/events) and forgets the answers of deleted
// participants. It is idempotent: an event delivered twice changes nothing more.
func (q *questionnaire) onEvent(_ context.Context, e servicekit.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.events = append(q.events, eventSeen{Model: e.Model, Verb: e.Verb, Object: e.Object})
	if len(q.events) > 100 {
		q.events = q.events[len(q.events)-100:]
	}
	if e.Model == "participant" && e.Verb == "deleted" {
		var p struct {
			ID int64 `json:"id_participant"`
		}
		if json.Unmarshal(e.Object, &p) == nil {
			delete(q.answers, p.ID)
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
