package websocket_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/presence"
	tws "github.com/tera-health/tera/services/websocket"
)

// rawSocket is a websocket client by hand, to do what a library client would not: leave the
// server's pings unanswered.
type rawSocket struct {
	c  net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, addr, path string) (*rawSocket, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	k := make([]byte, 16)
	_, _ = rand.Read(k)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, addr, base64.StdEncoding.EncodeToString(k))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.Close()
		return nil, resp.StatusCode
	}
	return &rawSocket{c: c, br: br}, resp.StatusCode
}

// frame reads one server frame (never masked, never fragmented by this server).
func (s *rawSocket) frame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(s.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(s.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(s.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(s.br, payload)
	return h[0] & 0x0f, payload, err
}

// A ping waiting for its pong does not hold the socket's frames back (it waited in the socket's
// writer, so every event for a client with a slow round trip waited with it): a client that
// leaves a ping unanswered still receives its events.
func TestFramesFlowWhileAPingAwaitsItsPong(t *testing.T) {
	e := newEnv(t)
	base := e.process("login,usermanager")
	ctx := context.Background()
	js, err := jetstream.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	state, err := authn.OpenState(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	s := tws.New(tws.Options{DB: e.db, NATS: e.nc, JS: js, State: state, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PingInterval: 20 * time.Millisecond, PingTimeout: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	mux := http.NewServeMux()
	for _, r := range s.HTTPRoutes() {
		mux.HandleFunc(r.Path, r.Methods[http.MethodGet])
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	f := e.fixture()
	path := wsPath(t, base, "user", admin)
	var sock *rawSocket
	// 503 until the target subscribed (the key is not consumed then).
	eventually(t, "the websocket target accepts", func() bool {
		var code int
		sock, code = rawDial(t, addr, path)
		if code != http.StatusSwitchingProtocols && code != http.StatusServiceUnavailable {
			t.Fatalf("handshake: %d", code)
		}
		return sock != nil
	})
	// A bound for a stuck socket, not a measure.
	_ = sock.c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	read := func(until func(op byte, p []byte) bool) {
		t.Helper()
		for {
			op, p, err := sock.frame()
			if err != nil {
				t.Fatalf("reading frames: %v", err)
			}
			if until(op, p) {
				return
			}
		}
	}
	read(func(op byte, p []byte) bool { return op == 0x9 }) // a ping, left unanswered

	ev, err := presence.Event(&eventsv1.StopSessionEvent{SessionUuid: "while-pinging"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(ev)
	if err := e.nc.Publish(presence.SubjectClient(presence.User, f.adminUUID), b); err != nil {
		t.Fatal(err)
	}
	read(func(op byte, p []byte) bool {
		return op == 0x1 && strings.Contains(string(p), `"sessionUuid": "while-pinging"`)
	})
}
