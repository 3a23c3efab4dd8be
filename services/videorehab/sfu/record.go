package sfu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// Recording a room: every track published in the room while it records is written to a file
// of its own in a temporary directory, as it arrives: VP8, VP9 and AV1 video in IVF, H.264 as
// an Annex B stream, Opus audio in Ogg (each plays in VLC, ffplay or mpv; ffmpeg muxes a
// participant's video and audio into one file). Packets reach the file through a bounded queue
// per track, written by a goroutine of its own, so a slow disk drops packets of the recording
// and never stalls forwarding; they are put back in sequence order first (reorder.go), so a
// retransmission arriving late still lands in its frame. A file stops growing at RecordOptions.MaxFileBytes.
//
// When the recording ends (StopRecording, the room emptied, the SFU closed) the finished
// files are handed to the function set with OnRecorded, once, which owns them from then on
// (uploads and deletes them). A process that dies mid-recording loses it: the files are only
// on its local disk and nothing resumes them.

// RecordOptions configure a room's recording.
type RecordOptions struct {
	// Dir is where the files are written (os.TempDir() when empty).
	Dir string
	// MaxFileBytes caps each file (default 450 MiB, under filetransfer's 500 MB upload limit).
	MaxFileBytes int64
	// By names who asked for it (kept in RecordedFile.By).
	By PeerInfo
}

// RecordedFile is one track's finished recording on local disk.
type RecordedFile struct {
	// Path is the file; Name a file name for it (peer, kind, start time, extension).
	Path, Name string
	// ContentType is the file's media type (video/x-ivf, audio/ogg, video/h264).
	ContentType string
	Peer        PeerInfo
	By          PeerInfo
	Kind        string
	Started     time.Time
	// Packets were written, Dropped lost to a full queue or the size cap; Bytes is the
	// file's size.
	Packets, Dropped, Bytes int64
}

// ErrRecording is StartRecording's answer in a room that already records; ErrNotRecording
// StopRecording's in one that does not.
var (
	ErrRecording    = errors.New("sfu: the room is already recording")
	ErrNotRecording = errors.New("sfu: the room is not recording")
)

// recordQueue is how many packets of a track may wait for its file.
const recordQueue = 1024

type recording struct {
	opts    RecordOptions
	dir     string
	started time.Time

	mu       sync.Mutex
	tracks   map[*Track]*trackRecorder
	finished []RecordedFile
	wg       sync.WaitGroup
}

// rtpWriter is what pion's media writers have in common.
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

type trackRecorder struct {
	t       *Track
	q       chan *rtp.Packet
	f       *capFile
	w       rtpWriter
	file    RecordedFile
	dropped atomic.Int64

	mu     sync.Mutex // write against close
	closed bool
}

// capFile counts what is written and refuses writes past its cap.
type capFile struct {
	*os.File
	n, max int64
}

var errFileFull = errors.New("sfu: recording file reached its size cap")

func (c *capFile) Write(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.max {
		return 0, errFileFull
	}
	n, err := c.File.Write(p)
	c.n += int64(n)
	return n, err
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func newTrackRecorder(rec *recording, t *Track) (*trackRecorder, error) {
	codec := t.remote.Codec()
	mime := strings.ToLower(codec.MimeType)
	var ext, ctype string
	switch mime {
	case strings.ToLower(webrtc.MimeTypeVP8), strings.ToLower(webrtc.MimeTypeVP9), strings.ToLower(webrtc.MimeTypeAV1):
		ext, ctype = ".ivf", "video/x-ivf"
	case strings.ToLower(webrtc.MimeTypeH264):
		ext, ctype = ".h264", "video/h264"
	case strings.ToLower(webrtc.MimeTypeOpus):
		ext, ctype = ".ogg", "audio/ogg"
	default:
		return nil, fmt.Errorf("sfu: no recording format for %s", codec.MimeType)
	}
	info := t.Info()
	who := unsafeName.ReplaceAllString(t.pub.info.Name, "_")
	if len(who) > 40 {
		who = who[:40]
	}
	if who == "" || who == "_" {
		who = t.pub.info.Kind
	}
	name := fmt.Sprintf("recording_%s_%s_%s_%d%s", rec.started.UTC().Format("20060102T150405Z"), who, info.Kind, t.seq, ext)
	f, err := os.CreateTemp(rec.dir, "tera-rec-*"+ext)
	if err != nil {
		return nil, fmt.Errorf("sfu: recording file: %w", err)
	}
	cf := &capFile{File: f, max: rec.opts.MaxFileBytes}
	var w rtpWriter
	switch ext {
	case ".ivf":
		w, err = ivfwriter.NewWith(cf, ivfwriter.WithCodec(codec.MimeType))
	case ".h264":
		w = h264writer.NewWith(cf)
	case ".ogg":
		ch := codec.Channels
		if ch == 0 {
			ch = 2
		}
		w, err = oggwriter.NewWith(cf, codec.ClockRate, ch)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("sfu: recording writer: %w", err)
	}
	tr := &trackRecorder{t: t, q: make(chan *rtp.Packet, recordQueue), f: cf, w: w, file: RecordedFile{Path: f.Name(), Name: name,
		ContentType: ctype, Peer: t.pub.info, By: rec.opts.By, Kind: info.Kind, Started: time.Now()}}
	return tr, nil
}

// run writes the queued packets until the queue is closed, then closes the file.
func (tr *trackRecorder) run(rec *recording) {
	defer rec.wg.Done()
	full := false
	write := func(pkts []*rtp.Packet) {
		for _, pkt := range pkts {
			if full {
				tr.dropped.Add(1)
				continue
			}
			if err := tr.w.WriteRTP(pkt); err != nil {
				if errors.Is(err, errFileFull) {
					full = true
					tr.t.pub.log().Warn("recording file full", "track", tr.file.Name, "bytes", tr.f.n)
				}
				// Else a packet the writer cannot parse (e.g. a truncated frame): skipped.
				tr.dropped.Add(1)
				continue
			}
			tr.file.Packets++
		}
	}
	var order reorder
	var ready []*rtp.Packet
	for pkt := range tr.q {
		var late bool
		ready, late = order.push(pkt, ready[:0])
		if late {
			tr.dropped.Add(1)
		}
		write(ready)
	}
	write(order.flush(ready[:0]))
	if err := tr.w.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		tr.t.pub.log().Warn("recording file close", "track", tr.file.Name, "err", err)
	}
	_ = tr.f.File.Close() // h264writer's Close does not close its writer
	tr.file.Dropped = tr.dropped.Load()
	if st, err := os.Stat(tr.file.Path); err == nil {
		tr.file.Bytes = st.Size()
	}
	rec.mu.Lock()
	rec.finished = append(rec.finished, tr.file)
	rec.mu.Unlock()
}

// write queues a copy of pkt (the forwarding path keeps the original).
func (tr *trackRecorder) write(pkt *rtp.Packet) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.closed {
		return
	}
	select {
	case tr.q <- pkt.Clone():
	default:
		tr.dropped.Add(1)
	}
}

func (tr *trackRecorder) close() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !tr.closed {
		tr.closed = true
		close(tr.q)
	}
}

// add starts recording t (no-op for a codec without a format: logged).
func (rec *recording) add(t *Track) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.tracks == nil || rec.tracks[t] != nil {
		return
	}
	tr, err := newTrackRecorder(rec, t)
	if err != nil {
		t.pub.log().Warn("track not recorded", "track", t.info.ID, "err", err)
		return
	}
	rec.tracks[t] = tr
	rec.wg.Add(1)
	go tr.run(rec)
	t.rec.Store(tr)
	t.pub.room.sfu.recordedTracks.Add(1)
	t.requestKeyframe() // a video file starts at a keyframe
}

// remove finishes t's file (the track ended).
func (rec *recording) remove(t *Track) {
	rec.mu.Lock()
	tr := rec.tracks[t]
	if tr != nil {
		delete(rec.tracks, t)
	}
	rec.mu.Unlock()
	if tr != nil {
		t.rec.Store(nil)
		tr.close()
	}
}

// end finishes every file and returns them all.
func (rec *recording) end() []RecordedFile {
	rec.mu.Lock()
	trs := rec.tracks
	rec.tracks = nil
	rec.mu.Unlock()
	for t, tr := range trs {
		t.rec.Store(nil)
		tr.close()
	}
	rec.wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.finished
}

// StartRecording starts recording every track of the room, and those published later, until
// StopRecording or the room closes.
func (r *Room) StartRecording(o RecordOptions) error {
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 450 << 20
	}
	dir, err := os.MkdirTemp(o.Dir, "tera-recording-")
	if err != nil {
		return fmt.Errorf("sfu: recording directory: %w", err)
	}
	rec := &recording{opts: o, dir: dir, started: time.Now(), tracks: map[*Track]*trackRecorder{}}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = os.Remove(dir)
		return ErrRoomClosed
	}
	if r.rec != nil {
		r.mu.Unlock()
		_ = os.Remove(dir)
		return ErrRecording
	}
	r.rec = rec
	tracks := r.tracksLocked()
	r.mu.Unlock()
	r.sfu.recordings.Add(1)
	for _, t := range tracks {
		rec.add(t)
	}
	r.broadcastRecording(true, o.By)
	return nil
}

// Recording reports whether the room records.
func (r *Room) Recording() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec != nil
}

// StopRecording ends the room's recording; its files go to the OnRecorded function.
func (r *Room) StopRecording(by PeerInfo) error {
	r.mu.Lock()
	rec := r.rec
	r.rec = nil
	r.mu.Unlock()
	if rec == nil {
		return ErrNotRecording
	}
	r.finishRecording(rec)
	r.broadcastRecording(false, by)
	return nil
}

// finishRecording closes rec's files and hands them over.
func (r *Room) finishRecording(rec *recording) {
	files := rec.end()
	r.sfu.recordings.Add(-1)
	r.sfu.mu.Lock()
	done := r.sfu.onRecorded
	r.sfu.mu.Unlock()
	if done == nil {
		for _, f := range files {
			_ = os.Remove(f.Path)
		}
		_ = os.Remove(rec.dir)
		r.sfu.log.Warn("recording discarded: nothing takes the files", "room", r.id)
		return
	}
	done(r.id, rec.dir, files)
}

// broadcastRecording tells every peer that the room started or stopped recording.
func (r *Room) broadcastRecording(on bool, by PeerInfo) {
	for _, p := range r.Peers() {
		if ev, ok := p.ev.(RecordingEvents); ok {
			ev.Recording(on, by)
		}
	}
}

// RecordingEvents is implemented by Events that want to know when their room starts or stops
// recording.
type RecordingEvents interface {
	Recording(on bool, by PeerInfo)
}

// OnRecorded sets the function that takes every finished recording: the room, the directory
// of its files (to remove once done) and the files. It is called on the goroutine that ended
// the recording and should hand the work off.
func (s *SFU) OnRecorded(f func(room, dir string, files []RecordedFile)) {
	s.mu.Lock()
	s.onRecorded = f
	s.mu.Unlock()
}

// CanRecord reports whether something takes finished recordings (OnRecorded was set).
func (s *SFU) CanRecord() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onRecorded != nil
}

// RemoveRecording deletes a recording's files and directory.
func RemoveRecording(dir string, files []RecordedFile) {
	for _, f := range files {
		_ = os.Remove(f.Path)
	}
	_ = os.Remove(filepath.Clean(dir))
}
