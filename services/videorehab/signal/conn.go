package signal

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/videorehab/sfu"
)

// conn is one signalling socket and, once joined, its peer.
type conn struct {
	h      *Handler
	ws     *websocket.Conn
	caller *authn.Caller
	adm    Admission
	out    chan []byte
	gone   chan struct{} // closed when the writer stops

	mu     sync.Mutex
	peer   *sfu.Peer
	early  [][]byte // events of the peer before joined went out
	ready  bool
	closed bool
	reason string
}

var _ sfu.Events = (*conn)(nil)

func (c *conn) serve() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.write(ctx, cancel)
	go c.ping(ctx, cancel)
	c.read(ctx)
	cancel()
	c.leave("left")
	<-c.gone
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	if reason == "" {
		reason = "bye"
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, reason)
}

func (c *conn) read(ctx context.Context) {
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.fail("messages are JSON text")
			continue
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			c.fail("not a JSON message: " + err.Error())
			continue
		}
		if !c.handle(ctx, m) {
			return
		}
	}
}

// handle applies one client message; false ends the socket.
func (c *conn) handle(ctx context.Context, m Message) bool {
	c.mu.Lock()
	p := c.peer
	c.mu.Unlock()
	if m.Type == TypeLeave {
		return false
	}
	if p == nil && m.Type != TypeJoin {
		c.fail("join first")
		return true
	}
	switch m.Type {
	case TypeJoin:
		if p != nil {
			c.fail("already joined")
			return true
		}
		return c.join(m)
	case TypeAnswer:
		if m.SDP == "" {
			c.fail("answer without sdp")
			return true
		}
		// Applied on the peer's goroutine; the socket keeps reading meanwhile (pongs, candidates).
		errc := make(chan error, 1)
		p.Answer(m.SDP, errc)
		go func() {
			select {
			case err := <-errc:
				if err != nil {
					c.fail(err.Error())
				}
			case <-p.Done():
			case <-ctx.Done():
			}
		}()
	case TypeCandidate:
		if m.Candidate == nil {
			c.fail("candidate missing")
			return true
		}
		p.AddCandidate(*m.Candidate)
	case TypePublish:
		if err := p.Publish(m.Kinds); err != nil {
			c.fail(err.Error())
		}
	case TypeUnpublish:
		if err := p.Unpublish(m.TrackID); err != nil {
			c.fail(err.Error())
		}
	case TypeMute:
		if m.Muted == nil {
			c.fail("mute without muted")
			return true
		}
		if err := p.Mute(m.TrackID, *m.Muted); err != nil {
			c.fail(err.Error())
		}
	case TypeRenegotiation:
		p.Renegotiate(m.ICERestart)
	case TypeRecord:
		c.record(p, m)
	default:
		c.fail("unknown message type " + m.Type)
	}
	return true
}

// join makes the caller a peer of its room. The peer's events queue up until joined is sent,
// so it comes first.
func (c *conn) join(m Message) bool {
	if err := validKinds(m.Publish); err != nil {
		c.fail(err.Error())
		return true
	}
	name := c.adm.Name
	if name == "" {
		name = c.caller.Name
	}
	info := sfu.PeerInfo{ID: authn.RandomHex(8), Name: name, Kind: kindName(c.caller.Kind), UUID: c.caller.UUID}
	var p *sfu.Peer
	var room *sfu.Room
	var err error
	for range 3 {
		room, err = c.h.o.SFU.Room(c.adm.Room)
		if err != nil {
			break
		}
		p, err = room.Join(info, c)
		if !errors.Is(err, sfu.ErrRoomClosed) {
			break
		}
	}
	if err != nil {
		c.fail("join: " + err.Error())
		c.setReason("join failed")
		return false
	}
	peers := []PeerState{}
	for _, o := range room.Peers() {
		if o != p {
			peers = append(peers, PeerState{Peer: o.Info(), Tracks: o.Published()})
		}
	}
	joined, _ := json.Marshal(Message{Type: TypeJoined, PeerID: info.ID, Room: room.ID(), ICEServers: c.h.o.SFU.ICEServers(), Peers: peers})
	c.mu.Lock()
	c.peer = p
	early := c.early
	c.early, c.ready = nil, true
	c.mu.Unlock()
	c.queue(joined)
	for _, b := range early {
		c.queue(b)
	}
	if room.Recording() {
		on := true
		c.event(Message{Type: TypeRecording, Recording: &on})
	}
	if len(m.Publish) > 0 {
		_ = p.Publish(m.Publish)
	}
	return true
}

// record starts or stops the room's recording: users only (the clinicians), and only when
// the process has somewhere to put the files.
func (c *conn) record(p *sfu.Peer, m Message) {
	switch {
	case m.Recording == nil:
		c.fail("record without recording")
		return
	case c.caller.Kind != authn.KindUser:
		c.fail("record: only users start or stop a recording")
		return
	case !c.h.o.SFU.CanRecord():
		c.fail("record: recording is not available on this server")
		return
	}
	var err error
	if *m.Recording {
		err = p.Room().StartRecording(sfu.RecordOptions{Dir: c.h.o.RecordDir, MaxFileBytes: c.h.o.RecordMaxFileBytes, By: p.Info()})
	} else {
		err = p.Room().StopRecording(p.Info())
	}
	if err != nil {
		c.fail("record: " + err.Error())
	}
}

func validKinds(kinds []string) error {
	for _, k := range kinds {
		if k != "audio" && k != "video" {
			return errors.New("publish: kinds are audio or video")
		}
	}
	if len(kinds) > 8 {
		return errors.New("publish: at most 8 tracks at once")
	}
	return nil
}

func (c *conn) setReason(r string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.mu.Unlock()
}

// leave ends the peer (once).
func (c *conn) leave(reason string) {
	c.mu.Lock()
	p := c.peer
	c.mu.Unlock()
	if p != nil {
		p.Close(reason)
	}
}

// shutdown closes the socket from the server's side.
func (c *conn) shutdown(reason string) {
	c.setReason(reason)
	c.send(Message{Type: TypeClosed, Message: reason})
	c.closeOut()
}

func (c *conn) closeOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.out)
	}
}

func (c *conn) fail(msg string) { c.send(Message{Type: TypeError, Message: msg}) }

func (c *conn) send(m Message) {
	b, err := json.Marshal(m)
	if err != nil {
		c.h.log.Warn("message not encodable", "type", m.Type, "err", err)
		return
	}
	c.queue(b)
}

// event queues a message of the peer, held back until joined went out.
func (c *conn) event(m Message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	c.mu.Lock()
	if !c.ready {
		c.early = append(c.early, b)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.queue(b)
}

// queue never blocks: a client that lets SendQueue messages pile up is dropped.
func (c *conn) queue(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	select {
	case c.out <- b:
	default:
		if c.reason == "" {
			c.reason = "too slow"
		}
		c.closed = true
		close(c.out)
	}
}

func (c *conn) write(ctx context.Context, cancel context.CancelFunc) {
	defer close(c.gone)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-c.out:
			if !ok {
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.ws.Write(wctx, websocket.MessageText, b)
			wcancel()
			if err != nil {
				return
			}
		}
	}
}

func (c *conn) ping(ctx context.Context, cancel context.CancelFunc) {
	iv := c.h.o.PingInterval
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, 3*iv)
		err := c.ws.Ping(pctx)
		pcancel()
		if err != nil {
			c.setReason("ping timeout")
			cancel()
			return
		}
	}
}

// sfu.Events

func (c *conn) Offer(sdp string, slots []sfu.Slot) {
	c.event(Message{Type: TypeOffer, SDP: sdp, Slots: slots})
}

func (c *conn) Candidate(ci sfu.CandidateInit) { c.event(Message{Type: TypeCandidate, Candidate: &ci}) }

func (c *conn) PeerJoined(p sfu.PeerInfo) { c.event(Message{Type: TypePeerJoined, Peer: &p}) }

func (c *conn) PeerLeft(p sfu.PeerInfo) { c.event(Message{Type: TypePeerLeft, Peer: &p}) }

func (c *conn) TrackPublished(t sfu.TrackInfo) {
	c.event(Message{Type: TypeTrackPublished, Track: &t})
}

func (c *conn) TrackUnpublished(t sfu.TrackInfo) {
	c.event(Message{Type: TypeTrackUnpublished, Track: &t})
}

func (c *conn) TrackMuted(t sfu.TrackInfo) { c.event(Message{Type: TypeTrackMuted, Track: &t}) }

func (c *conn) ActiveSpeaker(id string) { c.event(Message{Type: TypeActiveSpeaker, PeerID: id}) }

// Recording implements sfu.RecordingEvents.
func (c *conn) Recording(on bool, by sfu.PeerInfo) {
	c.event(Message{Type: TypeRecording, Recording: &on, Peer: &by})
}

// Closed ends the socket when the peer ended for another reason than the socket closing.
func (c *conn) Closed(reason string) {
	c.setReason(reason)
	c.event(Message{Type: TypeClosed, Message: reason})
	c.closeOut()
}
