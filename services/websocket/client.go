package websocket

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/presence"
)

// principal is who holds a socket, with what its events carry.
type principal struct {
	Kind, UUID            string
	ID                    int32
	Name                  string
	ProjectName, SiteName string
}

func (p principal) key() string { return p.Kind + "." + p.UUID }

type closeCmd struct {
	code   websocket.StatusCode
	reason string
}

// client is one socket. Its serve goroutine owns every write (frames, pings, close); a reader
// goroutine answers what the client sends.
type client struct {
	s     *Service
	ws    *websocket.Conn
	p     principal
	conn  presence.Conn
	send  chan []byte
	cmd   chan closeCmd
	acc   *accessEntry
	token string
}

func newClient(s *Service, ws *websocket.Conn, p principal, t authn.ConnectTarget) *client {
	return &client{s: s, ws: ws, p: p, token: t.TokenID,
		conn: presence.Conn{Kind: p.Kind, UUID: p.UUID, Replica: s.o.Replica, ID: authn.RandomHex(8), Name: p.Name,
			ProjectName: p.ProjectName, SiteName: p.SiteName},
		send: make(chan []byte, s.o.SendQueue), cmd: make(chan closeCmd, 1)}
}

// notAllowed is OpenTera's answer to anything a client sends.
var notAllowed = []byte("Not allowed to send message")

// serve runs the socket until either side closes it. The connection is reported to usermanager
// before anything else and its close after everything else, from this one goroutine, so a socket
// closed right after the handshake still ends offline.
func (c *client) serve(ctx context.Context) {
	defer c.ws.CloseNow()
	c.ws.SetReadLimit(64 << 10)
	acc, err := c.s.access.acquire(ctx, c.p)
	if err != nil {
		c.s.log.Warn("client access not computed", "kind", c.p.Kind, "err", err)
		_ = c.ws.Close(websocket.StatusInternalError, "access unavailable")
		return
	}
	c.acc = acc
	defer c.s.access.release(c.p)
	c.s.hub.add(c)
	defer c.s.hub.remove(c)
	// The open is reported while the socket already serves (a slow usermanager delays the
	// client's presence, not its events); the close is reported after the open's answer,
	// whatever it was: usermanager ignores an open that arrives after its close.
	reported := make(chan error, 1)
	go func() { reported <- c.s.reportConnect(ctx, c.conn) }()
	defer func() {
		if reported != nil {
			<-reported
		}
		c.s.reportRetry(c.conn)
	}()

	readDone := make(chan struct{})
	go c.read(ctx, readDone)
	ping := time.NewTicker(c.s.o.PingInterval)
	defer ping.Stop()
	// A ping waits for its pong (a round trip, long on a loaded client or network): it runs
	// beside the writer, which would otherwise hold every frame queued meanwhile. Buffered, so
	// a ping still waiting when the socket ends returns (on the close) without a reader.
	pinged := make(chan error, 1)
	pinging := false
	for {
		select {
		case f := <-c.send:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.ws.Write(wctx, websocket.MessageText, f)
			cancel()
			if err != nil {
				return
			}
		case <-ping.C:
			if pinging {
				continue // the ping in flight times out by itself
			}
			pinging = true
			go func() {
				pctx, cancel := context.WithTimeout(ctx, c.s.o.PingTimeout)
				defer cancel()
				pinged <- c.ws.Ping(pctx)
			}()
		case err := <-pinged:
			pinging = false
			if err != nil {
				c.s.log.Debug("ping timeout", "kind", c.p.Kind, "uuid", c.p.UUID, "err", err)
				return
			}
		case cmd := <-c.cmd:
			_ = c.ws.Close(cmd.code, cmd.reason)
			return
		case err := <-reported:
			reported = nil
			if err != nil {
				c.s.log.Warn("connection not reported to usermanager; closing it", "err", err)
				_ = c.ws.Close(websocket.StatusInternalError, "presence unavailable")
				return
			}
		case <-readDone:
			return
		case <-ctx.Done():
			_ = c.ws.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
	}
}

func (c *client) read(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		if _, _, err := c.ws.Read(ctx); err != nil {
			return
		}
		c.enqueue(notAllowed)
	}
}

// enqueue hands a frame to the writer; a client that lets its queue fill is dropped rather
// than slowing every other client of the replica.
func (c *client) enqueue(f []byte) {
	select {
	case c.send <- f:
	default:
		c.close(websocket.StatusPolicyViolation, "client too slow")
	}
}

func (c *client) close(code websocket.StatusCode, reason string) {
	select {
	case c.cmd <- closeCmd{code, reason}:
	default:
	}
}
