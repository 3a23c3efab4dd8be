package videorehab

import (
	"encoding/json"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
)

// invitations answers GET /rehab/api/invitations: the invitations to live video sessions the
// caller holds now, each as the JoinSessionEvent its websocket got (snake_case keys), so a page
// opened after the event arrived still finds it (OpenTera issue 143).
func (s *Service) invitations(w http.ResponseWriter, r *http.Request) {
	c := authn.FromContext(r.Context())
	kind := map[authn.Kind]string{authn.KindUser: presence.User, authn.KindParticipant: presence.Participant,
		authn.KindDevice: presence.Device}[c.Kind]
	lives, err := liveOf(r.Context(), s.o.DB, kind, c.UUID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	_, self, err := s.self(r.Context())
	if err != nil && len(lives) > 0 {
		s.internal(w, r, err)
		return
	}
	out := []json.RawMessage{}
	for _, l := range lives {
		if !l.invited(kind, c.UUID) {
			continue
		}
		row, err := store.GetSession(r.Context(), s.o.DB, s.scope(self), l.IDSession, "", false)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		var ev batch
		lists := [3][]string{}
		lists[map[string]int{presence.User: 0, presence.Participant: 1, presence.Device: 2}[kind]] = []string{c.UUID}
		s.joinAll(&ev, &l, row, lists[0], lists[1], lists[2])
		b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(ev.msgs[0].m)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out = append(out, b)
	}
	server.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.o.Log.Error("videorehab request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	server.WriteJSON(w, http.StatusInternalServerError, "Internal Server Error")
}
