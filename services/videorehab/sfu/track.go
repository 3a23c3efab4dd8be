package sfu

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval is the least time between two keyframe requests to a publisher's track:
// requests closer than that are coalesced into one sent when it has passed.
const keyframeInterval = 300 * time.Millisecond

// Track is one publisher's track, forwarded to every other peer of the room.
type Track struct {
	pub      *Peer
	seq      int
	sourceID string // the publisher's own track id
	remote   *webrtc.TrackRemote
	local    *boundTrack
	removed  atomic.Bool
	levelExt uint8 // negotiated id of the audio level extension (0: none)
	// sessionExts are the ids of the extensions whose values belong to the publisher's
	// session (mid, rid, repaired rid): a browser routes a packet by its MID extension before
	// its SSRC, so a forwarded packet carrying the publisher's mid lands on the subscriber's
	// m-line of that mid, not the track's, and is dropped. They are taken out before forwarding.
	sessionExts []uint8
	rec         atomic.Pointer[trackRecorder]

	mu        sync.Mutex
	info      TrackInfo
	lastKey   time.Time
	keyTimer  *time.Timer
	levelSum  float64
	levelSeen int
}

// Info describes the track.
func (t *Track) Info() TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

// boundTrack is the forwarded copy of a remote track; it counts the subscriber connections it
// is bound to, for the forwarded-packet counter.
type boundTrack struct {
	*webrtc.TrackLocalStaticRTP
	bindings atomic.Int64
}

func (b *boundTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := b.TrackLocalStaticRTP.Bind(c)
	if err == nil {
		b.bindings.Add(1)
	}
	return p, err
}

func (b *boundTrack) Unbind(c webrtc.TrackLocalContext) error {
	err := b.TrackLocalStaticRTP.Unbind(c)
	if err == nil {
		b.bindings.Add(-1)
	}
	return err
}

var trackSeq atomic.Int64

func newTrack(pub *Peer, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) (*Track, error) {
	id := pub.info.ID + "_" + remote.ID()
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, id, pub.info.ID)
	if err != nil {
		return nil, err
	}
	t := &Track{pub: pub, seq: int(trackSeq.Add(1)), sourceID: remote.ID(), remote: remote, local: &boundTrack{TrackLocalStaticRTP: local},
		info: TrackInfo{ID: id, StreamID: pub.info.ID, PeerID: pub.info.ID, Kind: remote.Kind().String()}}
	for _, ext := range receiver.GetParameters().HeaderExtensions {
		switch ext.URI {
		case sdp.AudioLevelURI:
			t.levelExt = uint8(ext.ID)
		case sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI:
			t.sessionExts = append(t.sessionExts, uint8(ext.ID))
		}
	}
	return t, nil
}

// forward copies the publisher's packets to every bound subscriber until the track ends.
func (t *Track) forward() {
	s := t.pub.room.sfu
	for {
		pkt, _, err := t.remote.ReadRTP()
		if err != nil {
			if !errors.Is(err, io.EOF) && !t.pub.isClosed() {
				t.pub.log().Debug("track read ended", "track", t.info.ID, "err", err)
			}
			t.pub.room.unpublish(t)
			return
		}
		size := uint64(pkt.MarshalSize())
		s.received.Add(1)
		s.receivedBytes.Add(size)
		if t.levelExt != 0 {
			if ext := pkt.Header.GetExtension(t.levelExt); len(ext) > 0 {
				t.addLevel(float64(ext[0] & 0x7f))
			}
		}
		if t.removed.Load() {
			continue
		}
		if tr := t.rec.Load(); tr != nil {
			tr.write(pkt)
		}
		n := t.local.bindings.Load()
		if n == 0 {
			continue
		}
		for _, id := range t.sessionExts {
			_ = pkt.Header.DelExtension(id) // absent: nothing to take out
		}
		// An error names the subscriber connections that failed (closing); the others got it.
		if len(t.sessionExts) > 0 {
			size = uint64(pkt.MarshalSize())
		}
		_ = t.local.WriteRTP(pkt)
		s.forwarded.Add(uint64(n))
		s.forwardedBytes.Add(uint64(n) * size)
	}
}

// addLevel records one packet's audio level (0 loudest, 127 silence).
func (t *Track) addLevel(l float64) {
	t.mu.Lock()
	t.levelSum += l
	t.levelSeen++
	t.mu.Unlock()
}

// takeLevel returns the mean level since the last call.
func (t *Track) takeLevel() (float64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.levelSeen == 0 {
		return math.Inf(1), false
	}
	l := t.levelSum / float64(t.levelSeen)
	t.levelSum, t.levelSeen = 0, 0
	return l, true
}

// requestKeyframe asks the publisher for a keyframe (PLI), at most once per keyframeInterval:
// a request within the interval is sent when it ends, so no subscriber waits for the next
// natural keyframe.
func (t *Track) requestKeyframe() {
	if t.remote.Kind() != webrtc.RTPCodecTypeVideo || t.removed.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keyTimer != nil {
		return // one is scheduled
	}
	wait := keyframeInterval - time.Since(t.lastKey)
	if wait <= 0 {
		t.sendPLILocked()
		return
	}
	t.keyTimer = time.AfterFunc(wait, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.keyTimer = nil
		t.sendPLILocked()
	})
}

func (t *Track) sendPLILocked() {
	t.lastKey = time.Now()
	if t.removed.Load() {
		return
	}
	t.pub.room.sfu.plisOut.Add(1)
	err := t.pub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.remote.SSRC())}})
	if err != nil && !t.pub.isClosed() {
		t.pub.log().Debug("keyframe request", "track", t.info.ID, "err", err)
	}
}

// readFeedback reads a subscriber's RTCP for t (the interceptors answer NACKs and read
// receiver reports as it is read) and forwards its keyframe requests to the publisher.
func (t *Track) readFeedback(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				t.pub.room.sfu.plisIn.Add(1)
				t.requestKeyframe()
			case *rtcp.TransportLayerNack:
				t.pub.room.sfu.nacks.Add(1)
			}
		}
	}
}
