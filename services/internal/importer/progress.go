package importer

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
)

// progress shows the step under way (one table's COPY, the files) as done of total and its
// rate: a bar redrawn in place on a terminal, or one plain line every PlainEvery otherwise, so a
// CI log or `kubectl logs` gets a readable trace instead of carriage returns. Every step ends
// with one line of its own in both modes.
type progress struct {
	w     io.Writer
	bars  bool
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	cur  *step
	last time.Time // of the last plain line
	quit chan struct{}
	done chan struct{}
}

// step is one thing being copied; add is called from the copying goroutine.
type step struct {
	name  string
	unit  string // rows, bytes
	total int64
	start time.Time
	n     atomic.Int64
}

func (s *step) add(n int64) { s.n.Add(n) }

// newProgress returns nil (no output, every method a no-op) when w is nil.
func newProgress(w io.Writer, bars bool, every time.Duration) *progress {
	if w == nil {
		return nil
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	p := &progress{w: w, bars: bars, every: every, now: time.Now, quit: make(chan struct{}), done: make(chan struct{})}
	tick := every
	if bars {
		tick = 200 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.tick()
			}
		}
	}()
	return p
}

// close stops the redraws; call it once, after the last step ended.
func (p *progress) close() {
	if p == nil {
		return
	}
	close(p.quit)
	<-p.done
	// A step cut short by an error leaves its bar: end its line before the report.
	if p.bars && p.cur != nil {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) begin(name, unit string, total int64) *step {
	s := &step{name: name, unit: unit, total: total}
	if p == nil {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.start = p.now()
	p.cur = s
	p.last = s.start
	return s
}

// end replaces the step's bar (or follows its plain lines) with its closing line.
func (p *progress) end(s *step, line string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(p.w, line)
	if p.cur == s {
		p.cur = nil
	}
}

// say prints a line of its own between steps (a phase's time).
func (p *progress) say(line string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars && p.cur != nil {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return
	}
	now := p.now()
	if p.bars {
		fmt.Fprint(p.w, "\r\x1b[K"+p.cur.bar(now, 30))
		return
	}
	if now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintln(p.w, p.cur.line(now))
	}
}

// bar is "core.t_sessions [=========>      ] 45% 450,000/1,000,000 rows 120,000 rows/s".
func (s *step) bar(now time.Time, width int) string {
	n := s.n.Load()
	filled := 0
	if s.total > 0 {
		filled = int(min(n, s.total) * int64(width) / s.total)
	}
	b := strings.Repeat("=", filled)
	if filled < width {
		b += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("%s [%s] %s", s.name, b, s.counts(now))
}

// line is "core.t_sessions: 45% 450,000/1,000,000 rows 120,000 rows/s".
func (s *step) line(now time.Time) string {
	return s.name + ": " + s.counts(now)
}

func (s *step) counts(now time.Time) string {
	n := s.n.Load()
	pct := 100
	if s.total > 0 {
		pct = int(min(n, s.total) * 100 / s.total)
	}
	rate := 0.0
	if d := now.Sub(s.start).Seconds(); d > 0 {
		rate = float64(n) / d
	}
	if s.unit == "bytes" {
		return fmt.Sprintf("%d%% %s/%s %s/s", pct, humanize.IBytes(uint64(n)), humanize.IBytes(uint64(s.total)), humanize.IBytes(uint64(rate)))
	}
	return fmt.Sprintf("%d%% %s/%s %s %s %s/s", pct, humanize.Comma(n), humanize.Comma(s.total), s.unit, humanize.Comma(int64(rate)), s.unit)
}

// lineCounter counts the rows of a COPY text stream passing through it: one row per line
// (COPY escapes the newlines inside values).
type lineCounter struct {
	r io.Reader
	s *step
}

func (c lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.s.add(int64(bytes.Count(p[:n], newline)))
	}
	return n, err
}

var newline = []byte{'\n'}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	s *step
}

func (c byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.add(int64(n))
	return n, err
}
