package signal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/videorehab/sfu"
)

// Verifier authenticates the token of a signalling request (*authn.Verifier).
type Verifier interface {
	Verify(ctx context.Context, cr authn.Credentials, loginEndpoint bool) (*authn.Caller, *authn.Principal, error)
}

// Admission is what the session manager says of a caller and a session key: the room to join
// (one per session) and the name the others see.
type Admission struct {
	Room string
	Name string
}

// ErrNotAdmitted is the Admitter's answer for a key that is unknown, ended, or not one of the
// caller's sessions.
var ErrNotAdmitted = errors.New("signal: not admitted to this session")

// Admitter decides who may join which room (the session manager: the caller must be one of
// the session's users, participants or devices, the session in progress).
type Admitter interface {
	Admit(ctx context.Context, sessionKey string, caller *authn.Caller) (Admission, error)
}

// Options configure the handler.
type Options struct {
	SFU      *sfu.SFU
	Verifier Verifier
	Admitter Admitter
	// Directory places rooms across pods; nil serves every room here (one pod).
	Directory *Directory
	Log       *slog.Logger
	// PingInterval is how often a silent socket is pinged (10 s); a ping unanswered within
	// 3 intervals closes it.
	PingInterval time.Duration
	// SendQueue is how many messages may wait for a slow client before it is dropped (512).
	SendQueue int
	// RecordDir is where recordings are written (the system's temporary directory when
	// empty); RecordMaxFileBytes caps each file (sfu.RecordOptions).
	RecordDir          string
	RecordMaxFileBytes int64
}

// Handler serves the signalling websocket.
type Handler struct {
	o   Options
	log *slog.Logger
	wg  sync.WaitGroup

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
}

// New returns the handler.
func New(o Options) (*Handler, error) {
	if o.SFU == nil || o.Verifier == nil || o.Admitter == nil {
		return nil, errors.New("signal: SFU, Verifier and Admitter are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.PingInterval == 0 {
		o.PingInterval = 10 * time.Second
	}
	if o.SendQueue == 0 {
		o.SendQueue = 512
	}
	return &Handler{o: o, log: o.Log.With("component", "signal"), conns: map[*conn]struct{}{}}, nil
}

// Run keeps this pod's room placements alive until ctx ends, then closes every socket and
// releases the placements.
func (h *Handler) Run(ctx context.Context) error {
	if d := h.o.Directory; d != nil {
		t := time.NewTicker(RoomTTL / 3)
		defer t.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := d.Refresh(rctx, h.o.SFU.Rooms()); err != nil && ctx.Err() == nil {
					h.log.Warn("room placements not refreshed", "err", err)
				}
				cancel()
			}
		}
	} else {
		<-ctx.Done()
	}
	h.mu.Lock()
	h.closing = true
	for c := range h.conns {
		c.shutdown("server shutting down")
	}
	h.mu.Unlock()
	h.wg.Wait()
	if d := h.o.Directory; d != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return d.Release(rctx)
	}
	return nil
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

func kindName(k authn.Kind) string {
	switch k {
	case authn.KindUser:
		return "user"
	case authn.KindParticipant:
		return "participant"
	case authn.KindDevice:
		return "device"
	}
	return ""
}

// ServeHTTP authenticates, admits, places the room and then serves the socket.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		plain(w, http.StatusUpgradeRequired, "426 Upgrade Required: this is a websocket endpoint")
		return
	}
	key := r.URL.Query().Get("key")
	if key == "" {
		plain(w, http.StatusBadRequest, "missing session key")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	caller, _, err := h.o.Verifier.Verify(ctx, authn.CredentialsFromRequest(r), false)
	var authErr *authn.Error
	switch {
	case errors.As(err, &authErr):
		plain(w, http.StatusUnauthorized, "unauthorized")
		return
	case err != nil:
		h.log.Warn("token not verifiable", "err", err)
		plain(w, http.StatusServiceUnavailable, "authentication is temporarily unavailable")
		return
	case caller == nil:
		plain(w, http.StatusUnauthorized, "unauthorized")
		return
	case kindName(caller.Kind) == "":
		plain(w, http.StatusForbidden, "only users, participants and devices join sessions")
		return
	}
	adm, err := h.o.Admitter.Admit(ctx, key, caller)
	if errors.Is(err, ErrNotAdmitted) {
		plain(w, http.StatusForbidden, "not admitted to this session")
		return
	}
	if err != nil {
		h.log.Warn("admission", "err", err)
		plain(w, http.StatusServiceUnavailable, "sessions are temporarily unavailable")
		return
	}
	redirect := ""
	if d := h.o.Directory; d != nil {
		owner, mine, err := d.Claim(ctx, adm.Room)
		if err != nil {
			h.log.Warn("room placement", "err", err)
			plain(w, http.StatusServiceUnavailable, "room placement is temporarily unavailable")
			return
		}
		if !mine {
			redirect = owner.URL
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The token and the session key authenticate; session pages may be served from
		// another origin (OpenTeraPlus, the portal).
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	if redirect != "" {
		b, _ := json.Marshal(Message{Type: TypeRedirect, URL: redirect})
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = ws.Write(wctx, websocket.MessageText, b)
		cancel()
		_ = ws.Close(websocket.StatusNormalClosure, "redirect")
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &conn{h: h, ws: ws, caller: caller, adm: adm, out: make(chan []byte, h.o.SendQueue), gone: make(chan struct{})}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		h.wg.Done()
	}()
	c.serve()
}
