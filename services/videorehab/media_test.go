package videorehab_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/tera-health/tera/services/videorehab/signal"
	"github.com/tera-health/tera/services/videorehab/signal/peerclient"
)

// media is a peer of a session's room publishing synthesized video and audio (tracks v-<name>
// and a-<name>).
type media struct {
	*peerclient.Client
	name string
}

func signalURL(e *env) string { return "ws" + strings.TrimPrefix(e.base, "http") + "/rehab/signal" }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, e *env, key, who, name string) (*media, error) {
	t.Helper()
	v, err := peerclient.NewVideo("v-"+name, "s-"+name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := peerclient.NewAudio("a-"+name, "s-"+name, 100)
	if err != nil {
		t.Fatal(err)
	}
	c, err := peerclient.Dial(ctxFor(t), peerclient.Options{URL: signalURL(e), Key: key, Token: strings.TrimPrefix(who, "token:"),
		Name: name, LoopbackOnly: true, Publish: []webrtc.TrackLocal{v.Track, a.Track},
		// A keyframe when the SFU asks for one, as a browser sends (a recording starts at one).
		OnRTCP: func(_ webrtc.TrackLocal, pkts []rtcp.Packet) {
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok {
					v.RequestKeyframe()
				}
			}
		}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = c.Close() })
	go func() { _ = v.Run(ctx, 30, 1000, 0) }()
	go func() { _ = a.Run(ctx, func() *webrtc.RTPSender { return c.Sender(a.Track) }) }()
	return &media{Client: c, name: name}, nil
}

// hears waits until p receives RTP on both of other's tracks.
func hears(t *testing.T, p, other *media) {
	t.Helper()
	for _, src := range []string{"v-" + other.name, "a-" + other.name} {
		if _, err := p.WaitTrack(ctxFor(t), other.PeerID+"_"+src, 20); err != nil {
			t.Fatalf("%s never received %s of %s: %v", p.name, src, other.name, err)
		}
	}
}

func refused(t *testing.T, err error, status int, what string) {
	t.Helper()
	var he *peerclient.HTTPError
	if !errors.As(err, &he) || he.Status != status {
		t.Fatalf("%s: dial answered %v, want HTTP %d", what, err, status)
	}
}

func gone(t *testing.T, p *media, what string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-ctxFor(t).Done():
		t.Fatalf("%s: %s still connected", what, p.name)
	}
}

// The session manager's live sessions admit their creator and invitees to the session's room
// at /rehab/signal; a leave removes the leaving peers and a stop closes the room.
func TestSignallingAdmitsSessionMembers(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1}, "session_users": []string{f.user}}))
	key := s["session_key"].(string)

	creator, err := dial(t, e, key, e.userToken("admin"), "creator")
	if err != nil {
		t.Fatalf("creator: %v", err)
	}
	part1, err := dial(t, e, key, e.participantToken(1), "part1")
	if err != nil {
		t.Fatalf("invited participant: %v", err)
	}
	if creator.Joined.Room != s["session_uuid"] || part1.Joined.Room != creator.Joined.Room {
		t.Fatalf("rooms %q and %q, want the session's uuid %v", creator.Joined.Room, part1.Joined.Room, s["session_uuid"])
	}
	hears(t, creator, part1)
	hears(t, part1, creator)

	// Not an invitee, an unknown key, no token, a service: refused before any socket.
	_, err = dial(t, e, key, e.userToken("user4"), "user4")
	refused(t, err, 403, "user4, not invited")
	_, err = dial(t, e, "00000000-0000-4000-8000-000000000000", e.participantToken(1), "nokey")
	refused(t, err, 403, "unknown key")
	_, err = dial(t, e, key, "", "anonymous")
	refused(t, err, 401, "no token")
	_, err = dial(t, e, key, e.serviceToken("VideoRehabService"), "service")
	refused(t, err, 401, "service token")

	// remove: the invitee who leaves is disconnected, the others stay.
	invitee, err := dial(t, e, key, e.userToken("user"), "user")
	if err != nil {
		t.Fatalf("invited user: %v", err)
	}
	hears(t, invitee, creator)
	if a := e.manage(admin, map[string]any{"action": "remove", "session_uuid": s["session_uuid"], "session_users": []string{f.user},
		"session_participants": []string{}, "session_devices": []string{}}); a["status"] != "removed" {
		t.Fatalf("remove answered %v", a)
	}
	gone(t, invitee, "after remove")
	_, err = dial(t, e, key, e.userToken("user"), "user-again")
	refused(t, err, 403, "removed user")
	if _, err := creator.Wait(ctxFor(t), func(m signal.Message) bool {
		return m.Type == signal.TypePeerLeft && m.Peer.ID == invitee.PeerID
	}); err != nil {
		t.Fatalf("creator: no peer_left for the removed user: %v", err)
	}

	// stop: every peer is disconnected and the key admits no one.
	if a := e.manage(admin, map[string]any{"action": "stop", "id_session": s["id_session"]}); a["status"] != "stopped" {
		t.Fatalf("stop answered %v", a)
	}
	gone(t, creator, "after stop")
	gone(t, part1, "after stop")
	_, err = dial(t, e, key, e.userToken("admin"), "creator-again")
	refused(t, err, 403, "stopped session")
}
