// Command wsload holds N websocket clients on a running Tera and publishes events to them at a
// fixed rate, then reports the clients held, the server's memory per connection and the
// event→client latency (p50/p99/max, measured from the publish to the frame's arrival).
//
//	tera dev --test-data --nats-port=4222 --data-dir=/tmp/tera-wsload &
//	(cd hack/wsload && go run . -url http://127.0.0.1:40075 -nats nats://127.0.0.1:4222 -clients 2000 -rate 1000 -d 20s)
//
// Clients are the participants the -user can list, several sockets each. Their connect keys are
// written straight into the connect-key bucket (what login does), so the run measures the
// websocket and usermanager targets, not logins. Each event is a StopSessionEvent (every client
// may see it) carrying its publish time, sent to the sockets of one connected participant in turn
// (tera.client.participant.<uuid>). There is no broadcast mode: the websocket target no longer
// forwards tera.session.> to every socket (each invitee gets its session events on its own subject).
// The same events read by a plain NATS subscriber of the driver give the floor: what the
// machine alone costs any reader at that moment, to read the websocket path's share against.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:40075", "Tera base URL (the dev listener or the ingress)")
	natsURL := flag.String("nats", "nats://127.0.0.1:4222", "the site's NATS")
	user := flag.String("user", "admin:admin", "user listing the participants (Basic)")
	clients := flag.Int("clients", 1000, "websocket clients to hold")
	dialers := flag.Int("dialers", 32, "connections opened concurrently")
	rate := flag.Int("rate", 1000, "events published per second")
	dur := flag.Duration("d", 20*time.Second, "how long events are published")
	flag.Parse()
	if err := run(*base, *natsURL, *user, *clients, *dialers, *rate, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

type stats struct {
	mu        sync.Mutex
	latencies []sample
	received  atomic.Int64
	open      atomic.Int64
}

// sample is one frame's latency and when its event was published (unix ns).
type sample struct {
	at int64
	d  time.Duration
}

func (st *stats) record(sentNS int64, now time.Time) {
	st.received.Add(1)
	st.mu.Lock()
	st.latencies = append(st.latencies, sample{sentNS, now.Sub(time.Unix(0, sentNS))})
	st.mu.Unlock()
}

func (st *stats) reset() {
	st.received.Store(0)
	st.mu.Lock()
	st.latencies = st.latencies[:0]
	st.mu.Unlock()
}

var (
	sentRe = regexp.MustCompile(`"sessionUuid": "wsload-(\d+)"`)
	// wireRe finds the publish time in an event's protobuf bytes (the floor subscriber).
	wireRe = regexp.MustCompile(`wsload-(\d+)`)
)

func run(base, natsURL, user string, n, dialers, rate int, dur time.Duration) error {
	parts, err := participants(base, user)
	if err != nil {
		return err
	}
	fmt.Printf("%d participants; %d clients (%.1f sockets each)\n", len(parts), n, float64(n)/float64(len(parts)))
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	keys, err := js.KeyValue(ctx, "tera_ws_connect_keys")
	if err != nil {
		return fmt.Errorf("connect-key bucket (log in once with a websocket to create it): %w", err)
	}

	before, err := metrics(base)
	if err != nil {
		return err
	}
	st := &stats{}
	socketsOf := make([]int, len(parts))
	var conns []*websocket.Conn
	var mu sync.Mutex
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := parts[i%len(parts)]
				c, err := connect(ctx, keys, base, p, st)
				if err != nil {
					if dialErrs.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "dial:", err)
					}
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				socketsOf[i%len(parts)]++
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Printf("connected %d clients in %v (%d failed)\n", len(conns), time.Since(start).Round(time.Millisecond), dialErrs.Load())
	// The server is settled when its goroutine count stops moving (reports of the connections
	// to usermanager and their presence events done).
	var after map[string]float64
	prev, still := -1.0, 0
	for settle := time.Now(); time.Since(settle) < 2*time.Minute && still < 3; {
		time.Sleep(time.Second)
		if after, err = metrics(base); err != nil {
			return err
		}
		g := after["go_goroutines"]
		if prev >= 0 && g-prev < 20 && prev-g < 20 {
			still++
		} else {
			still = 0
		}
		prev = g
	}
	held := len(conns)
	if held > 0 {
		fmt.Printf("server (all targets + embedded NATS): RSS %s → %s, Go heap in use %s → %s, goroutines %d → %d\n",
			mib(before["process_resident_memory_bytes"]), mib(after["process_resident_memory_bytes"]),
			mib(before["go_memstats_heap_inuse_bytes"]), mib(after["go_memstats_heap_inuse_bytes"]),
			int(before["go_goroutines"]), int(after["go_goroutines"]))
		fmt.Printf("per connection: RSS %.1f KiB, heap %.1f KiB, %.1f goroutines\n",
			(after["process_resident_memory_bytes"]-before["process_resident_memory_bytes"])/1024/float64(held),
			(after["go_memstats_heap_inuse_bytes"]-before["go_memstats_heap_inuse_bytes"])/1024/float64(held),
			(after["go_goroutines"]-before["go_goroutines"])/float64(held))
	}

	// The floor: the same events read by a plain NATS subscriber of this process. Its latency is
	// what the machine (scheduling, NATS) gives any reader; the websocket path adds to it.
	floor := &stats{}
	fnc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer fnc.Close()
	fsub, err := fnc.Subscribe("tera.client.participant.>", func(m *nats.Msg) {
		now := time.Now()
		if x := wireRe.FindSubmatch(m.Data); x != nil {
			ns, _ := strconv.ParseInt(string(x[1]), 10, 64)
			floor.record(ns, now)
		}
	})
	if err != nil {
		return err
	}
	_ = fsub.SetPendingLimits(-1, -1)
	_ = fnc.Flush()

	// Publish at a fixed rate, paced per 10 ms tick.
	st.reset()
	var expected int64
	var connected []int // participants holding at least one socket
	for i, k := range socketsOf {
		if k > 0 {
			connected = append(connected, i)
		}
	}
	if len(connected) == 0 {
		return fmt.Errorf("no client connected")
	}
	seq := 0
	pubStart := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for time.Since(pubStart) < dur {
		<-tick.C
		due := int(time.Since(pubStart).Seconds()*float64(rate)) - sent
		for range due {
			seq++
			i := connected[seq%len(connected)]
			if err := nc.Publish("tera.client.participant."+parts[i], event(time.Now())); err != nil {
				return err
			}
			expected += int64(socketsOf[i])
			sent++
		}
	}
	elapsed := time.Since(pubStart)
	_ = nc.Flush()
	deadline := time.Now().Add(30 * time.Second)
	for st.received.Load() < expected && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for floor.received.Load() < int64(sent) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("published %d events in %v (%.0f/s); frames expected %d, received %d (%.0f frames/s)\n",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), expected, st.received.Load(),
		float64(st.received.Load())/elapsed.Seconds())
	report("event→client latency", st, pubStart)
	report("floor, event→plain NATS subscriber of the driver", floor, pubStart)
	fmt.Printf("clients still open: %d of %d\n", st.open.Load(), held)
	for _, c := range conns {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
	return nil
}

// report prints p50/p99/max of the samples, and the worst seconds of the run by p99 (a tail
// from a stall shows as one or two bad seconds, a steady tail as all of them).
func report(what string, st *stats, start time.Time) {
	st.mu.Lock()
	samples := slices.Clone(st.latencies)
	st.mu.Unlock()
	if len(samples) == 0 {
		fmt.Printf("%s: no samples\n", what)
		return
	}
	all := make([]time.Duration, len(samples))
	bySecond := map[int64][]time.Duration{}
	for i, x := range samples {
		all[i] = x.d
		sec := (x.at - start.UnixNano()) / int64(time.Second)
		bySecond[sec] = append(bySecond[sec], x.d)
	}
	slices.Sort(all)
	fmt.Printf("%s: p50 %v  p99 %v  p99.9 %v  max %v\n", what, pct(all, 50), pct(all, 99), pct10(all, 999), all[len(all)-1])
	type secP99 struct {
		sec int64
		p99 time.Duration
	}
	var secs []secP99
	for sec, l := range bySecond {
		slices.Sort(l)
		secs = append(secs, secP99{sec, pct(l, 99)})
	}
	slices.SortFunc(secs, func(a, b secP99) int { return int(b.p99 - a.p99) })
	var worst []string
	for _, x := range secs[:min(5, len(secs))] {
		worst = append(worst, fmt.Sprintf("s%d %v", x.sec, x.p99))
	}
	fmt.Printf("  worst seconds by p99: %s\n", strings.Join(worst, ", "))
}

func pct10(l []time.Duration, permille int) time.Duration {
	return l[min(len(l)-1, len(l)*permille/1000)].Round(10 * time.Microsecond)
}

func pct(l []time.Duration, p int) time.Duration {
	return l[min(len(l)-1, len(l)*p/100)].Round(10 * time.Microsecond)
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// event is a TeraEvent{header, [Any(StopSessionEvent{session_uuid: "wsload-<unix ns>"})]} in
// protobuf wire format (built by hand: this module depends on no Tera package).
func event(t time.Time) []byte {
	session := "wsload-" + strconv.FormatInt(t.UnixNano(), 10)
	stop := field(1, []byte(session))
	anyMsg := append(field(1, []byte("type.googleapis.com/tera.events.v1.StopSessionEvent")), field(2, stop)...)
	header := append([]byte{0x08, 0x01}, field(3, []byte("wsload"))...)
	return append(field(1, header), field(2, anyMsg)...)
}

func field(num int, b []byte) []byte {
	out := []byte{byte(num<<3 | 2)}
	l := len(b)
	for l >= 0x80 {
		out = append(out, byte(l)|0x80)
		l >>= 7
	}
	out = append(out, byte(l))
	return append(out, b...)
}

func connect(ctx context.Context, keys jetstream.KeyValue, base, participant string, st *stats) (*websocket.Conn, error) {
	kb := make([]byte, 16)
	_, _ = rand.Read(kb)
	key := hex.EncodeToString(kb)
	// authn.ConnectTarget{Kind: PRINCIPAL_PARTICIPANT (2), UUID}
	if _, err := keys.Create(ctx, key, []byte(`{"kind":2,"uuid":"`+participant+`"}`)); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(base, "http")+"/wss/participant?id="+key,
		&websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	st.open.Add(1)
	go func() {
		defer st.open.Add(-1)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			now := time.Now()
			m := sentRe.FindSubmatch(b)
			if m == nil {
				continue // presence events
			}
			ns, _ := strconv.ParseInt(string(m[1]), 10, 64)
			st.record(ns, now)
		}
	}()
	return c, nil
}

func participants(base, user string) ([]string, error) {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user))
	var projects []struct {
		ID int `json:"id_project"`
	}
	if err := getJSON(base+"/api/user/projects?list=true", auth, &projects); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range projects {
		var ps []struct {
			UUID    string `json:"participant_uuid"`
			Enabled bool   `json:"participant_enabled"`
		}
		if err := getJSON(fmt.Sprintf("%s/api/user/participants?id_project=%d&list=true", base, p.ID), auth, &ps); err != nil {
			return nil, err
		}
		for _, x := range ps {
			if x.Enabled {
				out = append(out, x.UUID)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no enabled participant visible to the user")
	}
	return out, nil
}

func getJSON(url, auth string, v any) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// metrics reads the gauges of the server's /metrics this driver reports.
func metrics(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch name {
		case "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines":
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err == nil {
				out[name] = f
			}
		}
	}
	return out, nil
}
