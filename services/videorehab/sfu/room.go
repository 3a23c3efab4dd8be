package sfu

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// PeerInfo describes a peer to the others of its room.
type PeerInfo struct {
	ID   string `json:"peer_id"`
	Name string `json:"name"`
	// Kind is user, participant or device; UUID is that principal's uuid.
	Kind string `json:"kind"`
	UUID string `json:"uuid"`
}

// TrackInfo describes a forwarded track. ID and StreamID are the track's msid in every
// subscriber's session description (StreamID is the publisher's peer id).
type TrackInfo struct {
	ID       string `json:"track_id"`
	StreamID string `json:"stream_id"`
	PeerID   string `json:"peer_id"`
	Kind     string `json:"kind"`
	Muted    bool   `json:"muted"`
}

// Events are what a peer's signalling receives. They are called from the SFU's goroutines and
// must not block (queue them).
type Events interface {
	// Offer carries the server's offer and the receive slots in it the client may fill with
	// its tracks (mid and kind of each m-line the server receives on and nobody sends on yet).
	Offer(sdp string, slots []Slot)
	Candidate(candidate CandidateInit)
	PeerJoined(PeerInfo)
	PeerLeft(PeerInfo)
	TrackPublished(TrackInfo)
	TrackUnpublished(TrackInfo)
	TrackMuted(TrackInfo)
	ActiveSpeaker(peerID string)
	// Closed is the last event: the peer left or its connection failed.
	Closed(reason string)
}

// Slot is a receive slot of an offer.
type Slot struct {
	Mid  string `json:"mid"`
	Kind string `json:"kind"`
}

// CandidateInit is an ICE candidate as browsers exchange it (RTCIceCandidateInit).
type CandidateInit struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// speakerInterval is how often a room elects its active speaker.
const speakerInterval = 300 * time.Millisecond

// speakerThreshold is the loudest mean audio level (in -dBov, 127 is silence) still counted
// as someone speaking.
const speakerThreshold = 70

// Room is one video session: its peers and the tracks they publish.
type Room struct {
	sfu  *SFU
	id   string
	stop chan struct{}

	mu      sync.Mutex
	closed  bool
	peers   map[string]*Peer
	tracks  map[string]*Track
	speaker string
	rec     *recording // nil when not recording
}

func newRoom(s *SFU, id string) *Room {
	r := &Room{sfu: s, id: id, stop: make(chan struct{}), peers: map[string]*Peer{}, tracks: map[string]*Track{}}
	go r.electSpeakers()
	return r
}

// ID is the room's id.
func (r *Room) ID() string { return r.id }

// ErrRoomClosed is returned by Join on a room that emptied meanwhile: ask the SFU again.
var ErrRoomClosed = errors.New("sfu: room closed")

// ErrPeerExists is returned by Join for a peer id already in the room.
var ErrPeerExists = errors.New("sfu: peer id already in the room")

// Join adds a peer, subscribed to every track of the room. Its connection is offered once
// there is media to negotiate (a track to receive, or Publish).
func (r *Room) Join(info PeerInfo, ev Events) (*Peer, error) {
	pc, err := r.sfu.api.NewPeerConnection(r.sfu.pcConfig())
	if err != nil {
		return nil, err
	}
	p := newPeer(r, info, ev, pc)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = pc.Close()
		return nil, ErrRoomClosed
	}
	if r.peers[info.ID] != nil {
		r.mu.Unlock()
		_ = pc.Close()
		return nil, ErrPeerExists
	}
	others := r.peersLocked()
	r.peers[info.ID] = p
	for _, t := range r.tracksLocked() {
		p.subscribe(t)
	}
	r.mu.Unlock()
	for _, o := range others {
		o.ev.PeerJoined(info)
	}
	go p.loop()
	return p, nil
}

// Peers returns the peers of the room.
func (r *Room) Peers() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peersLocked()
}

// Tracks returns the tracks forwarded in the room.
func (r *Room) Tracks() []TrackInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []TrackInfo{}
	for _, t := range r.tracksLocked() {
		out = append(out, t.Info())
	}
	return out
}

func (r *Room) peersLocked() []*Peer {
	out := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Peer) int { return a.joined.Compare(b.joined) })
	return out
}

func (r *Room) tracksLocked() []*Track {
	out := make([]*Track, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Track) int { return a.seq - b.seq })
	return out
}

func (r *Room) closeIfEmpty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.peers) == 0 {
		r.closed = true
		return true
	}
	return false
}

// close stops the room's goroutines and ends its recording (the room is empty).
func (r *Room) close() {
	close(r.stop)
	r.mu.Lock()
	rec := r.rec
	r.rec = nil
	r.mu.Unlock()
	if rec != nil {
		r.finishRecording(rec)
	}
}

// publish makes t a track of the room and subscribes every other peer to it.
func (r *Room) publish(t *Track) bool {
	r.mu.Lock()
	if r.closed || r.peers[t.pub.info.ID] != t.pub {
		r.mu.Unlock()
		return false
	}
	r.tracks[t.info.ID] = t
	if r.rec != nil {
		r.rec.add(t)
	}
	others := []*Peer{}
	for _, p := range r.peersLocked() {
		if p != t.pub {
			p.subscribe(t)
			others = append(others, p)
		}
	}
	r.mu.Unlock()
	info := t.Info()
	for _, p := range others {
		p.ev.TrackPublished(info)
	}
	return true
}

// unpublish stops forwarding t and removes it from every subscriber.
func (r *Room) unpublish(t *Track) {
	if t.removed.Swap(true) {
		return
	}
	r.mu.Lock()
	delete(r.tracks, t.info.ID)
	peers := r.peersLocked()
	rec := r.rec
	r.mu.Unlock()
	if rec != nil {
		rec.remove(t)
	}
	info := t.Info()
	for _, p := range peers {
		if p != t.pub {
			p.unsubscribe(t)
			p.ev.TrackUnpublished(info)
		}
	}
}

// leave removes p and its tracks from the room.
func (r *Room) leave(p *Peer) {
	r.mu.Lock()
	if r.peers[p.info.ID] != p {
		r.mu.Unlock()
		return
	}
	delete(r.peers, p.info.ID)
	var mine []*Track
	for _, t := range r.tracks {
		if t.pub == p {
			mine = append(mine, t)
		}
	}
	r.mu.Unlock()
	for _, t := range mine {
		r.unpublish(t)
	}
	for _, o := range r.Peers() {
		o.ev.PeerLeft(p.info)
	}
	r.sfu.roomEmpty(r)
}

// broadcastMuted tells every peer but the publisher that t was muted or unmuted.
func (r *Room) broadcastMuted(t *Track) {
	info := t.Info()
	for _, p := range r.Peers() {
		if p != t.pub {
			p.ev.TrackMuted(info)
		}
	}
}

// electSpeakers reports the loudest publisher of the room to every peer when it changes.
func (r *Room) electSpeakers() {
	tick := time.NewTicker(speakerInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		best, bestLevel := "", speakerThreshold+1.0
		for _, t := range r.tracks {
			level, ok := t.takeLevel()
			if ok && !t.Info().Muted && level < bestLevel {
				best, bestLevel = t.pub.info.ID, level
			}
		}
		changed := best != "" && best != r.speaker
		if changed {
			r.speaker = best
		}
		peers := r.peersLocked()
		r.mu.Unlock()
		if changed {
			for _, p := range peers {
				p.ev.ActiveSpeaker(best)
			}
		}
	}
}

// ActiveSpeaker is the peer id last elected (empty before anyone spoke).
func (r *Room) ActiveSpeaker() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.speaker
}
