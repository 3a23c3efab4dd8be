package peerclient

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Video writes synthesized VP8 frames (valid frame headers, filler payload): a keyframe
// first, then when RequestKeyframe was called or every keyEvery frames.
type Video struct {
	Track  *webrtc.TrackLocalStaticSample
	key    atomic.Bool
	frames atomic.Int64
	keys   atomic.Int64
}

// NewVideo returns a VP8 source whose track is id in stream.
func NewVideo(id, stream string) (*Video, error) {
	t, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, id, stream)
	if err != nil {
		return nil, err
	}
	v := &Video{Track: t}
	v.key.Store(true)
	return v, nil
}

// RequestKeyframe makes the next frame a keyframe (what a PLI asks for).
func (v *Video) RequestKeyframe() { v.key.Store(true) }

// Frames and Keyframes count what was written.
func (v *Video) Frames() int64    { return v.frames.Load() }
func (v *Video) Keyframes() int64 { return v.keys.Load() }

// Run writes frames of size bytes at fps until ctx ends. keyEvery 0 sends keyframes only
// when asked.
func (v *Video) Run(ctx context.Context, fps, size, keyEvery int) error {
	if size < 20 {
		size = 20
	}
	iv := time.Second / time.Duration(fps)
	t := time.NewTicker(iv)
	defer t.Stop()
	buf := make([]byte, size)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		key := v.key.Swap(false) || (keyEvery > 0 && i%keyEvery == 0)
		frameHeader(buf, key)
		binary.BigEndian.PutUint64(buf[10:], uint64(time.Now().UnixNano()))
		if err := v.Track.WriteSample(media.Sample{Data: buf, Duration: iv}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return err
		}
		v.frames.Add(1)
		if key {
			v.keys.Add(1)
		}
	}
}

// frameHeader writes a VP8 frame tag (RFC 6386 §9.1): bit 0 clear marks a keyframe, which
// also carries the start code and a 320x240 size.
func frameHeader(b []byte, key bool) {
	size := uint32(len(b) - 3)
	tag := size<<5 | 1<<4 // show_frame, first partition size
	if !key {
		tag |= 1
	}
	b[0], b[1], b[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	b[3], b[4], b[5] = 0x9d, 0x01, 0x2a
	binary.LittleEndian.PutUint16(b[6:], 320)
	binary.LittleEndian.PutUint16(b[8:], 240)
}

// IsKeyframe reports whether a VP8 RTP payload starts a keyframe (RFC 7741 payload
// descriptor, then the frame tag).
func IsKeyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	i := 1
	if payload[0]&0x80 != 0 { // X
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	start := payload[0]&0x10 != 0 && payload[0]&0x07 == 0
	return start && len(payload) > i && payload[i]&0x01 == 0
}

// Audio writes 20 ms Opus-sized packets carrying an RFC 6464 audio level and, in their
// first 8 bytes, the time they were sent (for the load driver's latency).
type Audio struct {
	Track *webrtc.TrackLocalStaticRTP
	level atomic.Uint32
	sent  atomic.Int64
}

// Sent counts the packets written.
func (a *Audio) Sent() int64 { return a.sent.Load() }

// NewAudio returns an Opus source whose track is id in stream, at level (0 loudest, 127
// silence).
func NewAudio(id, stream string, level uint8) (*Audio, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, id, stream)
	if err != nil {
		return nil, err
	}
	a := &Audio{Track: t}
	a.level.Store(uint32(level & 0x7f))
	return a, nil
}

// SetLevel changes the level sent.
func (a *Audio) SetLevel(l uint8) { a.level.Store(uint32(l & 0x7f)) }

// Run sends until ctx ends; sender returns the track's sender once attached (the audio
// level extension's id is negotiated).
func (a *Audio) Run(ctx context.Context, sender func() *webrtc.RTPSender) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var ext uint8
	seq := uint16(time.Now().UnixNano())
	ts := uint32(0)
	payload := make([]byte, 80)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if ext == 0 {
			s := sender()
			if s == nil {
				continue
			}
			for _, h := range s.GetParameters().HeaderExtensions {
				if h.URI == sdp.AudioLevelURI {
					ext = uint8(h.ID)
				}
			}
			if ext == 0 {
				continue
			}
		}
		seq++
		ts += 960
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: false}, Payload: payload}
		if err := pkt.Header.SetExtension(ext, []byte{byte(a.level.Load())}); err != nil {
			return err
		}
		if err := a.Track.WriteRTP(pkt); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return err
		}
		a.sent.Add(1)
	}
}

// SentAt reads the send time an Audio packet carries.
func SentAt(payload []byte) (time.Time, bool) {
	if len(payload) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload))), true
}
