package signal_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/testenv"
	"github.com/tera-health/tera/services/internal/verifier"
	"github.com/tera-health/tera/services/videorehab/sfu"
	"github.com/tera-health/tera/services/videorehab/signal"
	"github.com/tera-health/tera/services/videorehab/signal/peerclient"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// principal is a fixture user or participant and a token of theirs.
type principal struct {
	uuid, name, token string
}

// sessions admits the members of each session key to the session's room: the session
// manager's decision, reduced to its answer.
type sessions struct {
	mu   sync.Mutex
	keys map[string]session
}

type session struct {
	room    string
	members map[string]bool
}

func (s *sessions) Admit(_ context.Context, key string, c *authn.Caller) (signal.Admission, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.keys[key]
	if !ok || !se.members[c.UUID] {
		return signal.Admission{}, signal.ErrNotAdmitted
	}
	return signal.Admission{Room: se.room}, nil
}

type env struct {
	t        *testing.T
	verifier *authn.Verifier
	js       jetstream.JetStream
	sessions *sessions
	users    []principal
	part     principal
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := testenv.FixtureDB(t)
	nc, err := nats.Connect(testenv.NewNATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	state, err := authn.OpenState(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := authn.NewKeySet(map[string]*ecdsa.PrivateKey{"test": key})
	signer := &authn.Signer{Keys: keys}
	e := &env{t: t, verifier: authn.NewVerifier(keys, state, &verifier.Directory{DB: db}, authn.VerifierOptions{}), js: js,
		sessions: &sessions{keys: map[string]session{}}}
	rows, err := db.Query(ctx, `SELECT id_user, user_uuid::text, user_firstname || ' ' || user_lastname FROM core.t_users
		WHERE user_enabled AND deleted_at IS NULL AND NOT user_2fa_enabled ORDER BY id_user LIMIT 4`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var p principal
		if err := rows.Scan(&id, &p.uuid, &p.name); err != nil {
			t.Fatal(err)
		}
		if p.token, err = signer.UserToken(id, p.uuid, p.name, false, nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		e.users = append(e.users, p)
	}
	if rows.Err() != nil || len(e.users) < 3 {
		t.Fatalf("fixture users: %d, %v", len(e.users), rows.Err())
	}
	var id int64
	if err := db.QueryRow(ctx, `SELECT p.id_participant, p.participant_uuid::text, p.participant_name FROM core.t_participants p
		JOIN core.t_projects pr USING (id_project) WHERE p.participant_enabled AND pr.project_enabled AND p.deleted_at IS NULL
		ORDER BY p.id_participant LIMIT 1`).Scan(&id, &e.part.uuid, &e.part.name); err != nil {
		t.Fatal(err)
	}
	if e.part.token, err = signer.ParticipantToken(id, e.part.uuid, e.part.name, time.Hour); err != nil {
		t.Fatal(err)
	}
	return e
}

// session registers a session key whose room admits members.
func (e *env) session(key, room string, members ...principal) {
	m := map[string]bool{}
	for _, p := range members {
		m[p.uuid] = true
	}
	e.sessions.mu.Lock()
	e.sessions.keys[key] = session{room: room, members: m}
	e.sessions.mu.Unlock()
}

// pod starts one videorehab pod's SFU and signalling; placed rooms go through NATS KV when
// name is not empty.
func (e *env) pod(name string) (string, *sfu.SFU) {
	t := e.t
	t.Helper()
	s, err := sfu.New(sfu.Config{ListenIPs: []string{"127.0.0.1"}}, testenv.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/rehab/signal"
	o := signal.Options{SFU: s, Verifier: e.verifier, Admitter: e.sessions, Log: testenv.Quiet(), PingInterval: time.Second}
	if name != "" {
		if o.Directory, err = signal.NewDirectory(e.js, signal.Owner{Pod: name, URL: wsURL}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := signal.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/rehab/signal", h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("signal run: %v", err)
		}
		srv.Close()
		_ = s.Close()
	})
	return wsURL, s
}

// peer is a test client publishing synthesized video and audio.
type peer struct {
	*peerclient.Client
	video *peerclient.Video
	audio *peerclient.Audio
	plis  atomic.Int64
	keys  atomic.Int64 // keyframes received
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// join connects p to the room of key, publishing a video and an audio track (ids v-<name>,
// a-<name>) unless publish is false.
func join(t *testing.T, url, key string, who principal, name string, publish bool, level uint8) *peer {
	t.Helper()
	p := &peer{}
	o := peerclient.Options{URL: url, Key: key, Token: who.token, Name: name, LoopbackOnly: true,
		OnRTCP: func(tr webrtc.TrackLocal, pkts []rtcp.Packet) {
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok && p.video != nil {
					p.plis.Add(1)
					p.video.RequestKeyframe()
				}
			}
		},
		OnRTP: func(tr *webrtc.TrackRemote, pkt *rtp.Packet, _ time.Time) {
			if tr.Kind() == webrtc.RTPCodecTypeVideo && peerclient.IsKeyframe(pkt.Payload) {
				p.keys.Add(1)
			}
		}}
	if publish {
		var err error
		if p.video, err = peerclient.NewVideo("v-"+name, "s-"+name); err != nil {
			t.Fatal(err)
		}
		if p.audio, err = peerclient.NewAudio("a-"+name, "s-"+name, level); err != nil {
			t.Fatal(err)
		}
		o.Publish = []webrtc.TrackLocal{p.video.Track, p.audio.Track}
	}
	c, err := peerclient.Dial(ctxT(t), o)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	p.Client = c
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = c.Close() })
	if publish {
		go func() { _ = p.video.Run(ctx, 30, 1000, 0) }()
		go func() { _ = p.audio.Run(ctx, func() *webrtc.RTPSender { return c.Sender(p.audio.Track) }) }()
	}
	return p
}

// receives waits until p gets RTP on both tracks of other (its video and audio).
func receives(t *testing.T, p, other *peer, otherName string) {
	t.Helper()
	for _, src := range []string{"v-" + otherName, "a-" + otherName} {
		id := other.PeerID + "_" + src
		if _, err := p.WaitTrack(ctxT(t), id, 20); err != nil {
			t.Fatalf("%s never received %s: %v", p.PeerID, id, err)
		}
	}
}

func TestTwoPeersReceiveEachOther(t *testing.T) {
	e := newEnv(t)
	url, _ := e.pod("")
	e.session("key-two", "room-two", e.users[0], e.part)
	a := join(t, url, "key-two", e.users[0], "a", true, 127)
	b := join(t, url, "key-two", e.part, "b", true, 127)
	receives(t, a, b, "b")
	receives(t, b, a, "a")
	if _, err := a.Wait(ctxT(t), func(m signal.Message) bool {
		return m.Type == signal.TypePeerJoined && m.Peer.ID == b.PeerID && m.Peer.Kind == "participant" && m.Peer.UUID == e.part.uuid
	}); err != nil {
		t.Fatalf("a: no peer_joined for b: %v", err)
	}
	if len(b.Joined.Peers) != 1 || b.Joined.Peers[0].Peer.ID != a.PeerID || b.Joined.Peers[0].Peer.Name != e.users[0].name {
		t.Fatalf("b joined with peers %+v", b.Joined.Peers)
	}
}

func TestThreePeersReceiveEveryOther(t *testing.T) {
	e := newEnv(t)
	url, s := e.pod("")
	e.session("key-three", "room-three", e.users[0], e.users[1], e.part)
	a := join(t, url, "key-three", e.users[0], "a", true, 127)
	b := join(t, url, "key-three", e.users[1], "b", true, 127)
	c := join(t, url, "key-three", e.part, "c", true, 127)
	peers := map[string]*peer{"a": a, "b": b, "c": c}
	for n, p := range peers {
		for on, o := range peers {
			if n != on {
				receives(t, p, o, on)
			}
		}
	}
	if st := s.Stats(); st.Rooms != 1 || st.Peers != 3 || st.Forwarded == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewcomerGetsKeyframe(t *testing.T) {
	e := newEnv(t)
	url, s := e.pod("")
	e.session("key-kf", "room-kf", e.users[0], e.users[1])
	a := join(t, url, "key-kf", e.users[0], "a", true, 127)
	// a sends keyframes only when asked (its first frame aside): wait until its track is
	// forwarded-ready in the room, with nobody to forward to.
	for ctx := ctxT(t); len(s.Lookup("room-kf").Tracks()) < 2; {
		select {
		case <-ctx.Done():
			t.Fatal("a's tracks never published")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if n := a.plis.Load(); n != 0 {
		t.Fatalf("%d keyframe requests with no subscriber", n)
	}
	b := join(t, url, "key-kf", e.users[1], "b", false, 0)
	if _, err := b.WaitTrack(ctxT(t), a.PeerID+"_v-a", 1); err != nil {
		t.Fatal(err)
	}
	for ctx := ctxT(t); a.plis.Load() == 0 || b.keys.Load() == 0; {
		select {
		case <-ctx.Done():
			t.Fatalf("newcomer: %d keyframe requests reached the publisher, %d keyframes reached the newcomer", a.plis.Load(), b.keys.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestLeaveRemovesTracks(t *testing.T) {
	e := newEnv(t)
	url, s := e.pod("")
	e.session("key-leave", "room-leave", e.users[0], e.users[1])
	a := join(t, url, "key-leave", e.users[0], "a", true, 127)
	b := join(t, url, "key-leave", e.users[1], "b", true, 127)
	receives(t, a, b, "b")
	receives(t, b, a, "a")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for _, src := range []string{"v-b", "a-b"} {
		id := b.PeerID + "_" + src
		if _, err := a.Wait(ctxT(t), func(m signal.Message) bool {
			return m.Type == signal.TypeTrackUnpublished && m.Track.ID == id
		}); err != nil {
			t.Fatalf("no track_unpublished for %s: %v", id, err)
		}
		gone[id] = true
	}
	if _, err := a.Wait(ctxT(t), func(m signal.Message) bool { return m.Type == signal.TypePeerLeft && m.Peer.ID == b.PeerID }); err != nil {
		t.Fatal(err)
	}
	// The offer that follows no longer sends b's tracks.
	if _, err := a.Wait(ctxT(t), func(m signal.Message) bool {
		if m.Type != signal.TypeOffer {
			return false
		}
		for id := range gone {
			if strings.Contains(m.SDP, id) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range s.Lookup("room-leave").Tracks() {
		if tr.PeerID == b.PeerID {
			t.Fatalf("track %s of b still in the room", tr.ID)
		}
	}
	// The last one out closes the room.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for ctx := ctxT(t); s.Lookup("room-leave") != nil; {
		select {
		case <-ctx.Done():
			t.Fatal("room not closed once empty")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestMuteAndActiveSpeaker(t *testing.T) {
	e := newEnv(t)
	url, _ := e.pod("")
	e.session("key-speak", "room-speak", e.users[0], e.users[1])
	a := join(t, url, "key-speak", e.users[0], "a", true, 10)
	b := join(t, url, "key-speak", e.users[1], "b", true, 127)
	for _, p := range []*peer{a, b} {
		if _, err := p.Wait(ctxT(t), func(m signal.Message) bool { return m.Type == signal.TypeActiveSpeaker && m.PeerID == a.PeerID }); err != nil {
			t.Fatalf("%s: a never the active speaker: %v", p.PeerID, err)
		}
	}
	a.audio.SetLevel(127)
	b.audio.SetLevel(5)
	if _, err := a.Wait(ctxT(t), func(m signal.Message) bool { return m.Type == signal.TypeActiveSpeaker && m.PeerID == b.PeerID }); err != nil {
		t.Fatalf("b never the active speaker: %v", err)
	}
	muted := true
	if err := a.Send(signal.Message{Type: signal.TypeMute, TrackID: "v-a", Muted: &muted}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctxT(t), func(m signal.Message) bool {
		return m.Type == signal.TypeTrackMuted && m.Track.ID == a.PeerID+"_v-a" && m.Track.Muted
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(signal.Message{Type: signal.TypeMute, TrackID: "nope", Muted: &muted}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Wait(ctxT(t), func(m signal.Message) bool { return m.Type == signal.TypeError }); err != nil {
		t.Fatal(err)
	}
}

func TestICETCPFallback(t *testing.T) {
	e := newEnv(t)
	url, _ := e.pod("")
	e.session("key-tcp", "room-tcp", e.users[0], e.users[1])
	a := join(t, url, "key-tcp", e.users[0], "a", true, 127)
	b := &peer{}
	c, err := peerclient.Dial(ctxT(t), peerclient.Options{URL: url, Key: "key-tcp", Token: e.users[1].token, LoopbackOnly: true, TCPOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b.Client = c
	t.Cleanup(func() { _ = c.Close() })
	receives(t, b, a, "a")
	pair, err := c.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v, %v: want TCP", pair, err)
	}
}

func TestRefused(t *testing.T) {
	e := newEnv(t)
	url, _ := e.pod("")
	e.session("key-ok", "room-ok", e.users[0])
	status := func(key, token string) int {
		_, err := peerclient.Dial(ctxT(t), peerclient.Options{URL: url, Key: key, Token: token, LoopbackOnly: true})
		var he *peerclient.HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("key %q: %v, want an HTTP refusal", key, err)
		}
		return he.Status
	}
	for _, c := range []struct {
		what, key, token string
		want             int
	}{
		{"bad token", "key-ok", "not-a-token", http.StatusUnauthorized},
		{"tampered token", "key-ok", e.users[0].token[:len(e.users[0].token)-4] + "AAAA", http.StatusUnauthorized},
		{"no token", "key-ok", "", http.StatusUnauthorized},
		{"wrong session key", "key-nope", e.users[0].token, http.StatusForbidden},
		{"not invited", "key-ok", e.users[1].token, http.StatusForbidden},
		{"no session key", "", e.users[0].token, http.StatusBadRequest},
	} {
		if got := status(c.key, c.token); got != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.what, got, c.want)
		}
	}
	resp, err := http.Get(strings.Replace(url, "ws", "http", 1) + "?key=key-ok&token=" + e.users[0].token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
	join(t, url, "key-ok", e.users[0], "a", false, 0)
}

func TestRedirectToOwningPod(t *testing.T) {
	e := newEnv(t)
	urlA, sA := e.pod("pod-a")
	urlB, sB := e.pod("pod-b")
	e.session("key-redir", "room-redir", e.users[0], e.users[1])
	a := join(t, urlA, "key-redir", e.users[0], "a", true, 127)
	_, err := peerclient.Dial(ctxT(t), peerclient.Options{URL: urlB, Key: "key-redir", Token: e.users[1].token, LoopbackOnly: true})
	var re *peerclient.RedirectError
	if !errors.As(err, &re) || re.URL != urlA {
		t.Fatalf("pod b: %v, want a redirect to %s", err, urlA)
	}
	b := join(t, re.URL, "key-redir", e.users[1], "b", true, 127)
	receives(t, b, a, "a")
	receives(t, a, b, "b")
	if sB.Lookup("room-redir") != nil || sA.Lookup("room-redir") == nil {
		t.Fatal("room not on pod a alone")
	}
	// Another room goes to the first pod reached.
	e.session("key-other", "room-other", e.users[2])
	join(t, urlB, "key-other", e.users[2], "c", false, 0)
	if _, err := peerclient.Dial(ctxT(t), peerclient.Options{URL: urlA, Key: "key-other", Token: e.users[2].token, LoopbackOnly: true}); !errors.As(err, &re) || re.URL != urlB {
		t.Fatalf("pod a for room-other: %v, want a redirect to %s", err, urlB)
	}
}
