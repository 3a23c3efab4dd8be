// Command sfuload puts one room of the videorehab SFU under load: N publishers (synthesized
// VP8 video and Opus-sized audio) and M subscribers, all pion clients of the signalling
// protocol, and reports the packets the SFU forwarded per CPU-second of its process, the
// subscribers' latency (audio packets carry their send time) and loss (RTP sequence gaps).
//
// The SFU runs in a child process (this binary with -serve) so its CPU is measured apart from
// the clients'. See README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/videorehab/sfu"
	sig "github.com/tera-health/tera/services/videorehab/signal"
	"github.com/tera-health/tera/services/videorehab/signal/peerclient"
)

func main() {
	serve := flag.Bool("serve", false, "run the SFU and its signalling (the child process)")
	listen := flag.String("listen", "127.0.0.1:0", "signalling address of -serve")
	publishers := flag.Int("publishers", 5, "peers publishing video and audio (they also receive the others)")
	subscribers := flag.Int("subscribers", 45, "peers only receiving")
	fps := flag.Int("fps", 30, "video frames per second")
	frame := flag.Int("frame-bytes", 1000, "video frame size (about one RTP packet per 1,100 bytes)")
	keyEvery := flag.Int("key-every", 90, "a keyframe every so many frames (0: on request only)")
	dur := flag.Duration("d", 30*time.Second, "measuring window, after every track reached every peer")
	dialers := flag.Int("dialers", 4, "peers joining at once")
	tcpPort := flag.Int("tcp-port", -1, "ICE-TCP port of -serve (-1: off)")
	flag.Parse()
	if *serve {
		if err := runServer(*listen, *tcpPort); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := runDriver(*publishers, *subscribers, *fps, *frame, *keyEvery, *dialers, *dur, *tcpPort); err != nil {
		log.Fatal(err)
	}
}

// loadToken is the only token the child accepts: authentication is not what is measured.
const loadToken = "sfuload"

type loadVerifier struct{ n atomic.Int64 }

func (v *loadVerifier) Verify(_ context.Context, cr authn.Credentials, _ bool) (*authn.Caller, *authn.Principal, error) {
	if cr.Token != loadToken {
		return nil, nil, &authn.Error{}
	}
	n := v.n.Add(1)
	return &authn.Caller{Kind: authn.KindUser, ID: n, UUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", n), Name: fmt.Sprintf("load %d", n)}, nil, nil
}

type oneRoom struct{}

func (oneRoom) Admit(context.Context, string, *authn.Caller) (sig.Admission, error) {
	return sig.Admission{Room: "load"}, nil
}

func runServer(listen string, tcpPort int) error {
	s, err := sfu.New(sfu.Config{ListenIPs: []string{"127.0.0.1"}, TCPPort: tcpPort}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer s.Close()
	h, err := sig.New(sig.Options{SFU: s, Verifier: &loadVerifier{}, Admitter: oneRoom{}, SendQueue: 4096})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/signal", h)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _ = h.Run(ctx) }()
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cpuSeconds is the user+system time of a process.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// stream is what one peer received on one track during the window.
type stream struct {
	mu          sync.Mutex
	counting    bool
	has         bool
	first, high int64 // extended sequence numbers
	cycles      int64
	last        uint16
	started     bool
	seen        [4096]int64
	unique      int64
	lat         []time.Duration
}

func (s *stream) add(p *rtp.Packet, at time.Time, audio bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started, s.last = true, p.SequenceNumber
	}
	if p.SequenceNumber < 0x1000 && s.last > 0xf000 {
		s.cycles++
	}
	if p.SequenceNumber > 0xf000 && s.last < 0x1000 && s.cycles > 0 {
		// a late packet of the previous cycle
		ext := (s.cycles-1)<<16 | int64(p.SequenceNumber)
		s.record(ext, p, at, audio)
		return
	}
	s.last = p.SequenceNumber
	s.record(s.cycles<<16|int64(p.SequenceNumber), p, at, audio)
}

func (s *stream) record(ext int64, p *rtp.Packet, at time.Time, audio bool) {
	if !s.counting {
		return
	}
	if !s.has {
		s.has, s.first, s.high = true, ext, ext
	}
	if ext < s.first {
		return
	}
	if ext > s.high {
		s.high = ext
	}
	slot := &s.seen[ext%int64(len(s.seen))]
	if *slot == ext+1 {
		return // a retransmission of a packet already counted
	}
	*slot = ext + 1
	s.unique++
	if audio {
		if sent, ok := peerclient.SentAt(p.Payload); ok {
			s.lat = append(s.lat, at.Sub(sent))
		}
	}
}

type driverPeer struct {
	c       *peerclient.Client
	video   *peerclient.Video
	audio   *peerclient.Audio
	mu      sync.Mutex
	streams map[string]*stream
}

func (p *driverPeer) stream(id string) *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.streams[id]
	if s == nil {
		s = &stream{}
		p.streams[id] = s
	}
	return s
}

func runDriver(nPub, nSub, fps, frame, keyEvery, dialers int, dur time.Duration, tcpPort int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve", "-tcp-port", strconv.Itoa(tcpPort))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("child: %w", err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))
	url := "ws://" + addr + "/signal"
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	peers := make([]*driverPeer, nPub+nSub)
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, dialers)
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for i := range peers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := &driverPeer{streams: map[string]*stream{}}
			o := peerclient.Options{URL: url, Key: "load", Token: loadToken, Name: fmt.Sprintf("peer %d", i), LoopbackOnly: true,
				OnRTP: func(t *webrtc.TrackRemote, pkt *rtp.Packet, at time.Time) {
					p.stream(t.ID()).add(pkt, at, t.Kind() == webrtc.RTPCodecTypeAudio)
				},
				OnRTCP: func(_ webrtc.TrackLocal, pkts []rtcp.Packet) {
					for _, pk := range pkts {
						switch pk.(type) {
						case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
							if p.video != nil {
								p.video.RequestKeyframe()
							}
						}
					}
				}}
			if i < nPub {
				var err error
				if p.video, err = peerclient.NewVideo(fmt.Sprintf("v%d", i), fmt.Sprintf("s%d", i)); err == nil {
					p.audio, err = peerclient.NewAudio(fmt.Sprintf("a%d", i), fmt.Sprintf("s%d", i), 60)
				}
				if err != nil {
					errMu.Lock()
					first = err
					errMu.Unlock()
					return
				}
				o.Publish = []webrtc.TrackLocal{p.video.Track, p.audio.Track}
			}
			dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
			defer dcancel()
			c, err := peerclient.Dial(dctx, o)
			if err != nil {
				errMu.Lock()
				first = fmt.Errorf("peer %d: %w", i, err)
				errMu.Unlock()
				return
			}
			p.c = c
			if p.video != nil {
				go func() { _ = p.video.Run(ctx, fps, frame, keyEvery) }()
				go func() { _ = p.audio.Run(ctx, func() *webrtc.RTPSender { return c.Sender(p.audio.Track) }) }()
			}
			peers[i] = p
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	defer func() {
		for _, p := range peers {
			_ = p.c.Close()
		}
	}()
	fmt.Printf("%d peers joined in %s (load %s)\n", len(peers), time.Since(start).Round(time.Millisecond), loadAvg())

	// Every peer must receive every track of every other publisher before the window opens.
	want := func(i int) []string {
		var ids []string
		for j := 0; j < nPub; j++ {
			if j != i {
				ids = append(ids, peers[j].c.PeerID+"_"+fmt.Sprintf("v%d", j), peers[j].c.PeerID+"_"+fmt.Sprintf("a%d", j))
			}
		}
		return ids
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	for i, p := range peers {
		for _, id := range want(i) {
			if _, err := p.c.WaitTrack(wctx, id, 5); err != nil {
				wcancel()
				why := ""
				if m, werr := p.c.Wait(context.Background(), func(m sig.Message) bool {
					return m.Type == sig.TypeClosed || m.Type == sig.TypeError
				}); werr == nil {
					why = fmt.Sprintf(" (server: %s %q)", m.Type, m.Message)
				}
				return fmt.Errorf("peer %d never received %s%s: %w", i, id, why, err)
			}
		}
	}
	wcancel()
	fmt.Printf("every track reached every peer after %s (load %s)\n", time.Since(start).Round(time.Millisecond), loadAvg())

	stats := func() (sfu.Stats, error) {
		var st sfu.Stats
		resp, err := http.Get("http://" + addr + "/stats")
		if err != nil {
			return st, err
		}
		defer resp.Body.Close()
		return st, json.NewDecoder(resp.Body).Decode(&st)
	}
	setCounting := func(on bool) {
		for _, p := range peers {
			p.mu.Lock()
			for _, s := range p.streams {
				s.mu.Lock()
				s.counting = on
				s.mu.Unlock()
			}
			p.mu.Unlock()
		}
	}
	st0, err := stats()
	if err != nil {
		return err
	}
	cpu0, _ := cpuSeconds(cmd.Process.Pid)
	self0, _ := cpuSeconds(os.Getpid())
	t0 := time.Now()
	load0 := loadAvg()
	sent := func() (frames, audio int64) {
		for _, p := range peers[:nPub] {
			frames += p.video.Frames()
			audio += p.audio.Sent()
		}
		return
	}
	f0, a0 := sent()
	setCounting(true)
	select {
	case <-time.After(dur):
	case <-ctx.Done():
	}
	setCounting(false)
	wall := time.Since(t0).Seconds()
	f1, a1 := sent()
	st1, err := stats()
	if err != nil {
		return err
	}
	cpu1, _ := cpuSeconds(cmd.Process.Pid)
	self1, _ := cpuSeconds(os.Getpid())

	var lat []time.Duration
	var expected, got int64
	worst := 0.0
	for i, p := range peers {
		ids := want(i)
		p.mu.Lock()
		for _, id := range ids {
			s := p.streams[id]
			if s == nil {
				continue
			}
			s.mu.Lock()
			if s.has {
				e := s.high - s.first + 1
				expected += e
				got += s.unique
				if l := 1 - float64(s.unique)/float64(e); l > worst {
					worst = l
				}
			}
			lat = append(lat, s.lat...)
			s.mu.Unlock()
		}
		p.mu.Unlock()
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(f*float64(len(lat))))].Round(100 * time.Microsecond)
	}
	fwd := float64(st1.Forwarded - st0.Forwarded)
	sfuCPU := cpu1 - cpu0
	fmt.Printf("room: %d publishers, %d subscribers (%d peers, %d forwarded streams), video %d fps × %d B, audio 50 pps\n",
		nPub, nSub, nPub+nSub, 2*nPub*(nPub+nSub-1), fps, frame)
	fmt.Printf("window %.1f s, load average %s → %s\n", wall, load0, loadAvg())
	fmt.Printf("sfu: %.0f packets forwarded (%.0f/s), %.2f CPU-s (%.0f%% of a core) → %.0f packets per CPU-second\n",
		fwd, fwd/wall, sfuCPU, 100*sfuCPU/wall, fwd/max(sfuCPU, 0.001))
	fmt.Printf("publishers sent %.0f%% of the configured frames and %.0f%% of the audio packets (below 100%%: the driver was starved)\n",
		100*float64(f1-f0)/(wall*float64(fps*nPub)), 100*float64(a1-a0)/(wall*50*float64(nPub)))
	fmt.Printf("clients: %.2f CPU-s (%.0f%% of a core)\n", self1-self0, 100*(self1-self0)/wall)
	loss := 0.0
	if expected > 0 {
		loss = 1 - float64(got)/float64(expected)
	}
	fmt.Printf("subscribers: %d of %d packets received, loss %.3f%% (worst stream %.3f%%)\n", got, expected, 100*loss, 100*worst)
	fmt.Printf("audio latency (send → subscriber): p50 %s, p99 %s, max %s over %d packets\n", q(0.5), q(0.99), q(1), len(lat))
	return nil
}
