// Package peerclient is a pion/webrtc client of the signalling protocol (package signal): it
// joins a room, publishes local tracks into the slots the server offers and receives the
// others' tracks. The tests and the load driver (hack/sfuload) use it as a browser would use
// the session page.
package peerclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/tera-health/tera/services/videorehab/sfu"
	"github.com/tera-health/tera/services/videorehab/signal"
)

// Options configure a client.
type Options struct {
	// URL is the signalling websocket (ws:// or wss://), without its query.
	URL string
	// Key is the session key, Token the user, participant or device token.
	Key, Token string
	Name       string
	// Publish are the tracks to send; each gets a slot of the server's first offer.
	Publish []webrtc.TrackLocal
	// LoopbackOnly keeps every candidate on 127.0.0.1 (tests, load driver on one machine).
	LoopbackOnly bool
	// TCPOnly gathers ICE-TCP candidates only (the fallback when UDP is blocked).
	TCPOnly bool
	// OnRTP sees every packet received, with the time it was read.
	OnRTP func(track *webrtc.TrackRemote, pkt *rtp.Packet, at time.Time)
	// OnRTCP sees the RTCP the server sends about one of the published tracks.
	OnRTCP func(track webrtc.TrackLocal, pkts []rtcp.Packet)
	// HTTPClient dials the websocket (default: http.DefaultClient).
	HTTPClient *http.Client
}

// RedirectError is returned by Dial when the room lives on another pod.
type RedirectError struct{ URL string }

func (e *RedirectError) Error() string { return "signal: room is served at " + e.URL }

// Client is one joined peer.
type Client struct {
	o      Options
	ws     *websocket.Conn
	pc     *webrtc.PeerConnection
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	PeerID string
	Joined signal.Message

	wmu sync.Mutex

	mu        sync.Mutex
	cond      *sync.Cond
	history   []signal.Message
	pending   []webrtc.TrackLocal
	senders   map[webrtc.TrackLocal]*webrtc.RTPSender
	received  map[string]*Received
	remoteSet bool
	held      []webrtc.ICECandidateInit // before the first remote description
	answered  bool
	mine      []signal.Message // candidates held until the answer went out
	err       error
}

// Received is a track the client receives.
type Received struct {
	Track   *webrtc.TrackRemote
	mu      sync.Mutex
	packets int
}

// Packets is how many RTP packets arrived on the track.
func (r *Received) Packets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packets
}

// API builds the pion API of a client: default codecs, the audio level extension and the
// default interceptors (NACK, reports, TWCC), as a browser would have.
func API(loopbackOnly, tcpOnly bool) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	if loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	}
	if tcpOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Dial opens the signalling socket and joins the room. A *RedirectError says which pod to
// dial instead.
func Dial(ctx context.Context, o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("key", o.Key)
	if o.Token != "" {
		q.Set("token", o.Token)
	}
	u.RawQuery = q.Encode()
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: o.HTTPClient})
	if err != nil {
		if resp != nil {
			return nil, &HTTPError{Status: resp.StatusCode}
		}
		return nil, err
	}
	ws.SetReadLimit(4 << 20)
	api, err := API(o.LoopbackOnly, o.TCPOnly)
	if err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{o: o, ws: ws, pc: pc, ctx: cctx, cancel: cancel, done: make(chan struct{}),
		pending: append([]webrtc.TrackLocal(nil), o.Publish...), senders: map[webrtc.TrackLocal]*webrtc.RTPSender{}, received: map[string]*Received{}}
	c.cond = sync.NewCond(&c.mu)
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) {
		if ic == nil {
			return
		}
		j := ic.ToJSON()
		m := signal.Message{Type: signal.TypeCandidate, Candidate: &sfu.CandidateInit{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}}
		c.mu.Lock()
		if !c.answered {
			c.mine = append(c.mine, m)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		_ = c.Send(m)
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		r := &Received{Track: t}
		c.mu.Lock()
		c.received[t.ID()] = r
		c.cond.Broadcast()
		c.mu.Unlock()
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			at := time.Now()
			r.mu.Lock()
			r.packets++
			r.mu.Unlock()
			if o.OnRTP != nil {
				o.OnRTP(t, pkt, at)
			}
		}
	})

	// The first message is joined's answer to join, or a redirect.
	kinds := []string{}
	for _, t := range o.Publish {
		kinds = append(kinds, t.Kind().String())
	}
	if err := c.Send(signal.Message{Type: signal.TypeJoin, Name: o.Name, Publish: kinds}); err != nil {
		c.abort()
		return nil, err
	}
	first, err := c.readMessage(ctx)
	if err != nil {
		c.abort()
		return nil, err
	}
	switch first.Type {
	case signal.TypeRedirect:
		c.abort()
		return nil, &RedirectError{URL: first.URL}
	case signal.TypeJoined:
	default:
		c.abort()
		return nil, fmt.Errorf("signal: %s before joined: %s", first.Type, first.Message)
	}
	c.PeerID, c.Joined = first.PeerID, first
	go c.run()
	return c, nil
}

// HTTPError is a refused upgrade.
type HTTPError struct{ Status int }

func (e *HTTPError) Error() string { return fmt.Sprintf("signal: refused with HTTP %d", e.Status) }

func (c *Client) abort() {
	c.cancel()
	_ = c.pc.Close()
	_ = c.ws.CloseNow()
}

func (c *Client) readMessage(ctx context.Context) (signal.Message, error) {
	var m signal.Message
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// Send writes one message.
func (c *Client) Send(m signal.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// run reads the socket; messages are handled on another goroutine, so a long negotiation
// does not stop the socket from answering the server's pings.
func (c *Client) run() {
	defer close(c.done)
	in := make(chan signal.Message, 4096)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for m := range in {
			c.handle(m)
		}
	}()
	defer func() { close(in); <-handled }()
	for {
		m, err := c.readMessage(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		in <- m
	}
}

func (c *Client) handle(m signal.Message) {
	switch m.Type {
	case signal.TypeOffer:
		if err := c.answer(m); err != nil {
			c.mu.Lock()
			c.err = err
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	case signal.TypeCandidate:
		if m.Candidate != nil {
			init := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex}
			c.mu.Lock()
			if !c.remoteSet {
				c.held = append(c.held, init)
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			_ = c.pc.AddICECandidate(init)
		}
	}
	c.mu.Lock()
	c.history = append(c.history, m)
	c.cond.Broadcast()
	c.mu.Unlock()
}

// answer applies the server's offer, attaches pending tracks to its slots and answers.
func (c *Client) answer(m signal.Message) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	c.mu.Lock()
	c.remoteSet = true
	held := c.held
	c.held = nil
	free := map[string]int{}
	for _, s := range m.Slots {
		free[s.Kind]++
	}
	var attach, keep []webrtc.TrackLocal
	for _, t := range c.pending {
		if free[t.Kind().String()] > 0 {
			free[t.Kind().String()]--
			attach = append(attach, t)
		} else {
			keep = append(keep, t)
		}
	}
	c.pending = keep
	c.mu.Unlock()
	for _, ci := range held {
		_ = c.pc.AddICECandidate(ci)
	}
	for _, t := range attach {
		sender, err := c.pc.AddTrack(t)
		if err != nil {
			return fmt.Errorf("attach %s: %w", t.ID(), err)
		}
		c.mu.Lock()
		c.senders[t] = sender
		c.mu.Unlock()
		go c.readRTCP(t, sender)
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return err
	}
	if err := c.Send(signal.Message{Type: signal.TypeAnswer, SDP: c.pc.LocalDescription().SDP}); err != nil {
		return err
	}
	c.mu.Lock()
	c.answered = true
	mine := c.mine
	c.mine = nil
	c.mu.Unlock()
	for _, m := range mine {
		_ = c.Send(m)
	}
	return nil
}

func (c *Client) readRTCP(t webrtc.TrackLocal, s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if c.o.OnRTCP != nil {
			c.o.OnRTCP(t, pkts)
		}
	}
}

// Publish sends another track (a screen share): it asks for a slot and attaches the track to
// it in the answer to the offer that follows.
func (c *Client) Publish(t webrtc.TrackLocal) error {
	c.mu.Lock()
	c.pending = append(c.pending, t)
	c.mu.Unlock()
	return c.Send(signal.Message{Type: signal.TypePublish, Kinds: []string{t.Kind().String()}})
}

// Sender is the sender of a published track once attached.
func (c *Client) Sender(t webrtc.TrackLocal) *webrtc.RTPSender {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.senders[t]
}

// PC is the client's peer connection.
func (c *Client) PC() *webrtc.PeerConnection { return c.pc }

// Wait returns the first message received (since joined) that matches, waiting for it.
func (c *Client) Wait(ctx context.Context, match func(signal.Message) bool) (signal.Message, error) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; ; {
		for ; i < len(c.history); i++ {
			if match(c.history[i]) {
				return c.history[i], nil
			}
		}
		if c.err != nil {
			return signal.Message{}, c.err
		}
		if ctx.Err() != nil {
			return signal.Message{}, ctx.Err()
		}
		c.cond.Wait()
	}
}

// WaitTrack returns the received track of id once it arrived (and got packets when
// minPackets > 0).
func (c *Client) WaitTrack(ctx context.Context, id string, minPackets int) (*Received, error) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	for {
		c.mu.Lock()
		r := c.received[id]
		for r == nil && c.err == nil && ctx.Err() == nil {
			c.cond.Wait()
			r = c.received[id]
		}
		err := c.err
		c.mu.Unlock()
		if r != nil && r.Packets() >= minPackets {
			return r, nil
		}
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Received returns the tracks received so far, by track id.
func (c *Client) Received() map[string]*Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*Received, len(c.received))
	for k, v := range c.received {
		out[k] = v
	}
	return out
}

// Done is closed once the socket ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// ErrClosed is the error of Wait after Close.
var ErrClosed = errors.New("peerclient: closed")

// Close leaves the room and closes the connection.
func (c *Client) Close() error {
	_ = c.Send(signal.Message{Type: signal.TypeLeave})
	c.cancel()
	err := c.pc.Close()
	_ = c.ws.CloseNow()
	<-c.done
	return err
}
