package videorehab_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/videorehab/signal"
)

// freeAddr is a loopback address nothing listens on, for a process whose own URL must be
// known before it starts (the filetransfer URL recordings are uploaded to).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// metrics reads the process's /metrics as name{labels} → value.
func metrics(t *testing.T, e *env) map[string]float64 {
	t.Helper()
	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "tera_videorehab_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func waitMsg(t *testing.T, p *media, what string, match func(signal.Message) bool) signal.Message {
	t.Helper()
	m, err := p.Wait(ctxFor(t), match)
	if err != nil {
		t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	return m
}

func recordingIs(on bool) func(signal.Message) bool {
	return func(m signal.Message) bool {
		return m.Type == signal.TypeRecording && m.Recording != nil && *m.Recording == on
	}
}

// A user records the room server-side: each peer's video and audio become assets of the
// session, owned by VideoRehabService, whose bytes parse as IVF (VP8) and Ogg (Opus) with
// frames; a participant may not record; the SFU's metrics count the two-peer run.
func TestRecordingBecomesSessionAssets(t *testing.T) {
	addr := freeAddr(t)
	e := newEnvWith(t, "core,usermanager,videorehab,filetransfer", func(c *fleet.Config) {
		c.HTTP.Listen = addr
		c.FileTransfer.Blob.Dir = t.TempDir()
		c.VideoRehab.FileTransferURL = "http://" + addr
		c.VideoRehab.RecordDir = t.TempDir()
	})
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1}}))
	key := s["session_key"].(string)
	creator, err := dial(t, e, key, e.userToken("admin"), "creator")
	if err != nil {
		t.Fatalf("creator: %v", err)
	}
	part1, err := dial(t, e, key, e.participantToken(1), "part1")
	if err != nil {
		t.Fatalf("participant: %v", err)
	}
	hears(t, creator, part1)
	hears(t, part1, creator)

	// A participant may not record; a record without its flag is refused.
	on, off := true, false
	if err := part1.Send(signal.Message{Type: signal.TypeRecord, Recording: &on}); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, part1, "participant's record refused", func(m signal.Message) bool {
		return m.Type == signal.TypeError && strings.Contains(m.Message, "only users")
	})
	if err := creator.Send(signal.Message{Type: signal.TypeRecord}); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, creator, "record without flag refused", func(m signal.Message) bool {
		return m.Type == signal.TypeError && m.Message == "record without recording"
	})

	if err := creator.Send(signal.Message{Type: signal.TypeRecord, Recording: &on}); err != nil {
		t.Fatal(err)
	}
	m := waitMsg(t, part1, "recording started", recordingIs(true))
	if m.Peer == nil || m.Peer.ID != creator.PeerID {
		t.Fatalf("recording started by %+v, want the creator %s", m.Peer, creator.PeerID)
	}
	if err := creator.Send(signal.Message{Type: signal.TypeRecord, Recording: &on}); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, creator, "second start refused", func(m signal.Message) bool {
		return m.Type == signal.TypeError && strings.Contains(m.Message, "already recording")
	})
	// A newcomer learns that the room records.
	late, err := dial(t, e, key, e.userToken("admin"), "late")
	if err != nil {
		t.Fatalf("second creator socket: %v", err)
	}
	waitMsg(t, late, "recording told to a newcomer", recordingIs(true))
	_ = late.Close()
	waitMsg(t, creator, "newcomer left", func(m signal.Message) bool { return m.Type == signal.TypePeerLeft && m.Peer.ID == late.PeerID })

	// Let ~3 s of media through while recording (30 fps video, 50 audio packets a second).
	base := map[string]int{}
	for id, r := range creator.Received() {
		base[id] = r.Packets()
	}
	for id, n := range base {
		if _, err := creator.WaitTrack(ctxFor(t), id, n+90); err != nil {
			t.Fatalf("creator: track %s stalled: %v", id, err)
		}
	}
	during := metrics(t, e)
	if err := creator.Send(signal.Message{Type: signal.TypeRecord, Recording: &off}); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, part1, "recording stopped", recordingIs(false))

	// Four assets: video and audio of each peer.
	assets := sessionAssets(t, e, s["id_session"], 4)
	videoRehab := e.scalar(`SELECT id_service::text FROM core.t_services WHERE service_key = 'VideoRehabService'`)
	fileTransfer := e.scalar(`SELECT service_uuid FROM core.t_services WHERE service_key = 'FileTransferService'`)
	kinds := map[string]int{}
	for _, a := range assets {
		if a.IDService == nil || fmt.Sprint(*a.IDService) != videoRehab || a.AssetServiceUUID != fileTransfer || a.AccessToken == nil {
			t.Fatalf("asset %+v: want id_service %s (VideoRehabService), stored by FileTransferService %s, with a token", a, videoRehab, fileTransfer)
		}
		st, body := e.do(admin, http.MethodGet, "/file/api/assets?"+url.Values{"asset_uuid": {a.AssetUUID}, "access_token": {*a.AccessToken}}.Encode(), nil)
		if st != http.StatusOK {
			t.Fatalf("download %s: %d %s", a.AssetName, st, body)
		}
		switch a.AssetType {
		case "video/x-ivf":
			r, h, err := ivfreader.NewWith(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: not IVF: %v", a.AssetName, err)
			}
			frames, keys := 0, 0
			for {
				frame, _, err := r.ParseNextFrame()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: frame %d: %v", a.AssetName, frames, err)
				}
				if frame[0]&1 == 0 {
					keys++
				}
				frames++
			}
			if h.FourCC != "VP80" || frames < 30 || keys < 1 || int(h.NumFrames) != frames {
				t.Fatalf("%s: %s, %d frames (%d key, header says %d), want VP80 with ≥ 30 frames from a keyframe", a.AssetName,
					h.FourCC, frames, keys, h.NumFrames)
			}
			t.Logf("%s: %d bytes, IVF VP8, %d frames (%d key)", a.AssetName, len(body), frames, keys)
			kinds["video"]++
		case "audio/ogg":
			r, h, err := oggreader.NewWith(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: not Ogg Opus: %v", a.AssetName, err)
			}
			pages := 0
			var granule uint64
			for {
				_, ph, err := r.ParseNextPage()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: page %d: %v", a.AssetName, pages, err)
				}
				pages++
				granule = max(granule, ph.GranulePosition)
			}
			// Pages past the comment header each hold one 20 ms packet (960 samples).
			if h.Channels != 2 || h.SampleRate != 48000 || pages < 50 || granule < 50*960 {
				t.Fatalf("%s: %d channels at %d Hz, %d pages, granule %d: want ≥ 50 packets of Opus", a.AssetName,
					h.Channels, h.SampleRate, pages, granule)
			}
			t.Logf("%s: %d bytes, Ogg Opus, %d pages, granule %d", a.AssetName, len(body), pages, granule)
			kinds["audio"]++
		default:
			t.Fatalf("asset %s of type %q", a.AssetName, a.AssetType)
		}
	}
	if kinds["video"] != 2 || kinds["audio"] != 2 {
		t.Fatalf("assets by kind %v, want 2 video and 2 audio", kinds)
	}

	// The metrics of the run: one room, two peers, four tracks, one recording while it ran.
	after := metrics(t, e)
	for name, want := range map[string]float64{"tera_videorehab_rooms": 1, "tera_videorehab_peers": 2, "tera_videorehab_tracks": 4,
		"tera_videorehab_recordings_active": 1} {
		if during[name] != want {
			t.Errorf("while recording %s = %v, want %v", name, during[name], want)
		}
	}
	if after["tera_videorehab_recordings_active"] != 0 || after["tera_videorehab_recorded_tracks_total"] != 4 {
		t.Errorf("after the recording: active %v, recorded tracks %v, want 0 and 4", after["tera_videorehab_recordings_active"],
			after["tera_videorehab_recorded_tracks_total"])
	}
	fwd, fwdBytes := after[`tera_videorehab_rtp_packets_total{direction="forwarded"}`], after[`tera_videorehab_rtp_bytes_total{direction="forwarded"}`]
	rcv := after[`tera_videorehab_rtp_packets_total{direction="received"}`]
	if fwd < 4*90 || rcv < 4*90 || fwdBytes < fwd*12 || after["tera_videorehab_keyframe_requests_total"] < 2 {
		t.Errorf("counters %v: want ≥ 360 packets forwarded and received, ≥ 12 bytes a packet, ≥ 2 keyframe requests", after)
	}
	for _, name := range []string{"tera_videorehab_nacks_received_total", "tera_videorehab_plis_received_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	t.Logf("metrics after the run: %v", after)

	// A recording the session's stop ends: its files are stored too, once the room closed.
	if err := creator.Send(signal.Message{Type: signal.TypeRecord, Recording: &on}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); metrics(t, e)["tera_videorehab_recordings_active"] != 1; {
		if time.Now().After(deadline) {
			t.Fatal("second recording never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for id, r := range creator.Received() {
		if _, err := creator.WaitTrack(ctxFor(t), id, r.Packets()+60); err != nil {
			t.Fatalf("creator: track %s stalled: %v", id, err)
		}
	}
	if a := e.manage(admin, map[string]any{"action": "stop", "id_session": s["id_session"]}); a["status"] != "stopped" {
		t.Fatalf("stop answered %v", a)
	}
	gone(t, creator, "after stop")
	gone(t, part1, "after stop")
	if all := sessionAssets(t, e, s["id_session"], 8); len(all) != 8 {
		t.Fatalf("%d assets after the session stopped mid-recording, want 8", len(all))
	}
	if m := metrics(t, e); m["tera_videorehab_recordings_active"] != 0 || m["tera_videorehab_rooms"] != 0 || m["tera_videorehab_peers"] != 0 {
		t.Fatalf("after the stop: %v", m)
	}
}

type asset struct {
	IDAsset          int32   `json:"id_asset"`
	IDService        *int32  `json:"id_service"`
	AssetName        string  `json:"asset_name"`
	AssetUUID        string  `json:"asset_uuid"`
	AssetType        string  `json:"asset_type"`
	AssetServiceUUID string  `json:"asset_service_uuid"`
	AccessToken      *string `json:"access_token"`
}

// sessionAssets lists the session's assets once there are n (uploads end after the
// recording), failing past a minute.
func sessionAssets(t *testing.T, e *env, idSession any, n int) []asset {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, body := e.do(admin, http.MethodGet, fmt.Sprintf("/api/user/assets?id_session=%v&with_urls=true", idSession), nil)
		if st != http.StatusOK {
			t.Fatalf("assets: %d %s", st, body)
		}
		var assets []asset
		if err := json.Unmarshal(body, &assets); err != nil {
			t.Fatalf("assets %s: %v", body, err)
		}
		if len(assets) >= n || time.Now().After(deadline) {
			if len(assets) != n {
				t.Fatalf("%d assets of the session, want %d: %+v", len(assets), n, assets)
			}
			return assets
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A videorehab pod shut down mid-recording (a rollout) stores what it recorded before it
// exits: here videorehab runs in a process of its own, as on a cluster, and uploads to the
// filetransfer target of another.
func TestRecordingStoredWhenItsPodShutsDown(t *testing.T) {
	addr := freeAddr(t)
	e := newEnvWith(t, "core,usermanager,filetransfer", func(c *fleet.Config) {
		c.HTTP.Listen = addr
		c.FileTransfer.Blob.Dir = t.TempDir()
	})
	recordDir := t.TempDir()
	base, stop := e.process("videorehab", func(c *fleet.Config) {
		c.VideoRehab.FileTransferURL = "http://" + addr
		c.VideoRehab.RecordDir = recordDir
	})
	pod := *e
	pod.base = base // the signalling is the videorehab process's
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1}}))
	key := s["session_key"].(string)
	creator, err := dial(t, &pod, key, e.userToken("admin"), "creator")
	if err != nil {
		t.Fatalf("creator: %v", err)
	}
	part1, err := dial(t, &pod, key, e.participantToken(1), "part1")
	if err != nil {
		t.Fatalf("participant: %v", err)
	}
	hears(t, creator, part1)
	on := true
	if err := creator.Send(signal.Message{Type: signal.TypeRecord, Recording: &on}); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, part1, "recording started", recordingIs(true))
	for id, r := range creator.Received() {
		if _, err := creator.WaitTrack(ctxFor(t), id, r.Packets()+60); err != nil {
			t.Fatalf("creator: track %s stalled: %v", id, err)
		}
	}

	stop() // returns once the process has exited
	gone(t, creator, "after the pod stopped")
	assets := sessionAssets(t, e, s["id_session"], 4)
	for _, a := range assets {
		st, body := e.do(admin, http.MethodGet, "/file/api/assets?"+url.Values{"asset_uuid": {a.AssetUUID}, "access_token": {*a.AccessToken}}.Encode(), nil)
		if st != http.StatusOK || len(body) < 1000 {
			t.Fatalf("download %s: %d, %d bytes", a.AssetName, st, len(body))
		}
	}
	// The temporary files are gone with the upload.
	left, err := os.ReadDir(recordDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("%d entries left in the recording directory", len(left))
	}
}
