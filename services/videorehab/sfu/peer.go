package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

func (s *SFU) pcConfig() webrtc.Configuration {
	// The SFU's own candidates are host (or NAT 1:1) candidates on its muxed ports; STUN
	// servers help only when no public address is configured.
	cfg := webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire}
	if len(s.cfg.PublicIPs) == 0 {
		for _, ice := range s.cfg.ICEServers {
			stun := webrtc.ICEServer{}
			for _, u := range ice.URLs {
				if len(u) > 5 && u[:5] == "stun:" {
					stun.URLs = append(stun.URLs, u)
				}
			}
			if len(stun.URLs) > 0 {
				cfg.ICEServers = append(cfg.ICEServers, stun)
			}
		}
	}
	return cfg
}

// Peer is one participant's connection to a room. Every change to its peer connection runs
// on the peer's own goroutine, in order, so negotiation has one driver: the server offers,
// the client answers, and changes that arrive meanwhile are offered together once the answer
// is in.
type Peer struct {
	room   *Room
	info   PeerInfo
	ev     Events
	pc     *webrtc.PeerConnection
	joined time.Time
	closed atomic.Bool
	done   chan struct{}

	qmu   sync.Mutex
	queue []func()
	wake  chan struct{}

	// Owned by the peer's goroutine.
	negotiating bool // an offer waits for its answer
	needOffer   bool
	candidates  []webrtc.ICECandidateInit
	subs        map[string]*webrtc.RTPSender
	connected   bool
	// Tracks subscribed to and not yet offered, in the offer waiting for its answer, and
	// negotiated but waiting for the connection: each gets a keyframe request once it can
	// be received.
	newSubs, offeredSubs, readySubs []*Track

	pmu sync.Mutex
	pub map[string]*Track // by the publisher's own track id
}

func newPeer(r *Room, info PeerInfo, ev Events, pc *webrtc.PeerConnection) *Peer {
	p := &Peer{room: r, info: info, ev: ev, pc: pc, joined: time.Now(), done: make(chan struct{}), wake: make(chan struct{}, 1),
		subs: map[string]*webrtc.RTPSender{}, pub: map[string]*Track{}}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		j := c.ToJSON()
		ev.Candidate(CandidateInit{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex, UsernameFragment: j.UsernameFragment})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.do(func() {
				p.connected = true
				p.keyframesForNewSubs()
			})
		case webrtc.PeerConnectionStateFailed:
			go p.Close("media connection failed")
		case webrtc.PeerConnectionStateClosed:
			// The client closed its connection (DTLS close_notify).
			go p.Close("media connection closed")
		}
	})
	pc.OnTrack(func(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		p.published(remote, receiver)
	})
	return p
}

// Info describes the peer.
func (p *Peer) Info() PeerInfo { return p.info }

// Room is the peer's room.
func (p *Peer) Room() *Room { return p.room }

func (p *Peer) log() *slog.Logger { return p.room.sfu.log.With("room", p.room.id, "peer", p.info.ID) }

func (p *Peer) isClosed() bool { return p.closed.Load() }

// Done is closed once the peer has left.
func (p *Peer) Done() <-chan struct{} { return p.done }

// do runs f on the peer's goroutine.
func (p *Peer) do(f func()) {
	p.qmu.Lock()
	if p.closed.Load() {
		p.qmu.Unlock()
		return
	}
	p.queue = append(p.queue, f)
	p.qmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Peer) loop() {
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		}
		p.qmu.Lock()
		batch := p.queue
		p.queue = nil
		p.qmu.Unlock()
		for _, f := range batch {
			if p.closed.Load() {
				return
			}
			f()
		}
		p.offerIfNeeded()
	}
}

// offerIfNeeded sends one offer for every change made since the last, unless an offer is
// still waiting for its answer.
func (p *Peer) offerIfNeeded() {
	if !p.needOffer || p.negotiating || p.closed.Load() {
		return
	}
	if len(p.pc.GetTransceivers()) == 0 {
		return
	}
	p.needOffer = false
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		if !p.closed.Load() && !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.log().Warn("offer", "err", err)
		}
		go p.Close("negotiation failed")
		return
	}
	p.negotiating = true
	p.offeredSubs = append(p.offeredSubs, p.newSubs...)
	p.newSubs = nil
	p.ev.Offer(p.pc.LocalDescription().SDP, p.slots())
}

// slots lists the receive slots of the current offer not yet filled by the client.
func (p *Peer) slots() []Slot {
	out := []Slot{}
	for _, t := range p.pc.GetTransceivers() {
		if t.Direction() == webrtc.RTPTransceiverDirectionRecvonly && t.Mid() != "" && !p.filled(t) {
			out = append(out, Slot{Mid: t.Mid(), Kind: t.Kind().String()})
		}
	}
	return out
}

// filled reports whether the client already sends on a receive slot.
func (p *Peer) filled(t *webrtc.RTPTransceiver) bool {
	r := t.Receiver()
	if r == nil {
		return false
	}
	for _, tr := range r.Tracks() {
		if tr.SSRC() != 0 {
			return true
		}
	}
	return false
}

// Publish adds one receive slot per kind ("audio", "video"): the client attaches its tracks
// to them in its answer to the offer that follows.
func (p *Peer) Publish(kinds []string) error {
	ks := make([]webrtc.RTPCodecType, 0, len(kinds))
	for _, k := range kinds {
		kind := webrtc.NewRTPCodecType(k)
		if kind == 0 {
			return fmt.Errorf("sfu: unknown media kind %q", k)
		}
		ks = append(ks, kind)
	}
	p.do(func() {
		for _, k := range ks {
			if _, err := p.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				p.log().Warn("receive slot", "kind", k, "err", err)
				continue
			}
			p.needOffer = true
		}
	})
	return nil
}

// Renegotiate makes the server offer again (an ICE restart once the client's network
// changed).
func (p *Peer) Renegotiate(iceRestart bool) {
	p.do(func() {
		if iceRestart && !p.negotiating {
			offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
			if err == nil {
				err = p.pc.SetLocalDescription(offer)
			}
			if err != nil {
				p.log().Warn("ice restart", "err", err)
				return
			}
			p.negotiating = true
			p.needOffer = false
			p.offeredSubs = append(p.offeredSubs, p.newSubs...)
			p.newSubs = nil
			p.ev.Offer(p.pc.LocalDescription().SDP, p.slots())
			return
		}
		p.needOffer = true
	})
}

// ErrNoOffer is returned for an answer the server did not ask for.
var ErrNoOffer = errors.New("sfu: no offer is waiting for an answer")

// Answer applies the client's answer to the last offer. The result is reported through
// errc when not nil (it runs on the peer's goroutine).
func (p *Peer) Answer(sdp string, errc chan<- error) {
	p.do(func() {
		err := p.answer(sdp)
		if err != nil && !errors.Is(err, ErrNoOffer) {
			p.log().Info("answer refused", "err", err)
		}
		if errc != nil {
			errc <- err
		}
	})
}

func (p *Peer) answer(sdp string) error {
	if !p.negotiating {
		return ErrNoOffer
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("sfu: answer: %w", err)
	}
	p.negotiating = false
	p.readySubs = append(p.readySubs, p.offeredSubs...)
	p.offeredSubs = nil
	for _, c := range p.candidates {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log().Debug("queued candidate", "err", err)
		}
	}
	p.candidates = nil
	p.keyframesForNewSubs()
	return nil
}

// AddCandidate adds one of the client's ICE candidates (kept until the first answer when it
// arrives before).
func (p *Peer) AddCandidate(c CandidateInit) {
	p.do(func() {
		init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
		if p.pc.RemoteDescription() == nil {
			if len(p.candidates) < 64 {
				p.candidates = append(p.candidates, init)
			}
			return
		}
		if err := p.pc.AddICECandidate(init); err != nil {
			p.log().Debug("candidate refused", "err", err)
		}
	})
}

// keyframesForNewSubs asks the publishers of the tracks this peer started receiving for a
// keyframe, once the connection is up and the track negotiated (else the keyframe would be
// sent before the subscriber could receive it).
func (p *Peer) keyframesForNewSubs() {
	if !p.connected {
		return
	}
	for _, t := range p.readySubs {
		if _, ok := p.subs[t.info.ID]; ok {
			t.requestKeyframe()
		}
	}
	p.readySubs = nil
}

// subscribe starts forwarding t to this peer.
func (p *Peer) subscribe(t *Track) {
	p.do(func() {
		if t.removed.Load() || p.subs[t.info.ID] != nil {
			return
		}
		// A send-only m-line of its own: the client attaches its tracks to the receive slots
		// only. (m-lines are not reused once a track ended: pion clients stop a transceiver
		// offered inactive for good.)
		tr, err := p.pc.AddTransceiverFromTrack(t.local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			p.log().Warn("subscribe", "track", t.info.ID, "err", err)
			return
		}
		sender := tr.Sender()
		p.subs[t.info.ID] = sender
		p.newSubs = append(p.newSubs, t)
		p.needOffer = true
		go t.readFeedback(sender)
	})
}

// unsubscribe stops forwarding t to this peer.
func (p *Peer) unsubscribe(t *Track) {
	p.do(func() {
		sender := p.subs[t.info.ID]
		if sender == nil {
			return
		}
		delete(p.subs, t.info.ID)
		if err := p.pc.RemoveTrack(sender); err != nil {
			p.log().Debug("unsubscribe", "track", t.info.ID, "err", err)
		}
		p.needOffer = true
	})
}

// published handles a track the client started sending.
func (p *Peer) published(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	t, err := newTrack(p, remote, receiver)
	if err != nil {
		p.log().Warn("track", "err", err)
		return
	}
	p.pmu.Lock()
	if old := p.pub[t.sourceID]; old != nil && !old.removed.Load() {
		// The same client track id again (another m-line): keep both apart.
		t.info.ID = fmt.Sprintf("%s_%d", t.info.ID, t.seq)
	}
	p.pub[t.sourceID] = t
	p.pmu.Unlock()
	// RTCP from the publisher (sender reports) must be read for the interceptors to see it.
	go func() {
		for {
			if _, _, err := receiver.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	if !p.room.publish(t) {
		return
	}
	t.forward()
}

// ErrUnknownTrack is returned for a track id the peer does not publish.
var ErrUnknownTrack = errors.New("sfu: no such published track")

func (p *Peer) publishedTrack(sourceID string) (*Track, error) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	t := p.pub[sourceID]
	if t == nil || t.removed.Load() {
		return nil, ErrUnknownTrack
	}
	return t, nil
}

// Unpublish stops forwarding one of the peer's tracks (by the client's own track id).
func (p *Peer) Unpublish(sourceID string) error {
	t, err := p.publishedTrack(sourceID)
	if err != nil {
		return err
	}
	p.room.unpublish(t)
	return nil
}

// Mute records that one of the peer's tracks is muted or not and tells the room.
func (p *Peer) Mute(sourceID string, muted bool) error {
	t, err := p.publishedTrack(sourceID)
	if err != nil {
		return err
	}
	t.mu.Lock()
	changed := t.info.Muted != muted
	t.info.Muted = muted
	t.mu.Unlock()
	if changed {
		p.room.broadcastMuted(t)
	}
	return nil
}

// Published lists the peer's tracks.
func (p *Peer) Published() []TrackInfo {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	out := []TrackInfo{}
	for _, t := range p.pub {
		if !t.removed.Load() {
			out = append(out, t.Info())
		}
	}
	return out
}

// Close makes the peer leave its room; its tracks are removed from every subscriber.
func (p *Peer) Close(reason string) {
	p.qmu.Lock()
	if p.closed.Swap(true) {
		p.qmu.Unlock()
		return
	}
	p.queue = nil
	p.qmu.Unlock()
	close(p.done)
	p.room.leave(p)
	if err := p.pc.Close(); err != nil {
		p.log().Debug("close", "err", err)
	}
	p.ev.Closed(reason)
}
