package importer

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// newClockedProgress is a progress whose clock the test moves and whose ticks the test calls.
func newClockedProgress(bars bool) (*progress, *bytes.Buffer, *time.Time) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	p := &progress{w: &buf, bars: bars, every: 10 * time.Second}
	p.now = func() time.Time { return now }
	return p, &buf, &now
}

func TestProgressBarOnATerminal(t *testing.T) {
	p, buf, now := newClockedProgress(true)
	s := p.begin("core.t_sessions", "rows", 1_000_000)
	s.add(450_000)
	*now = now.Add(3 * time.Second)
	p.tick()
	want := "\r\x1b[Kcore.t_sessions [=============>                ] 45% 450,000/1,000,000 rows 150,000 rows/s"
	if buf.String() != want {
		t.Fatalf("bar\n%q, want\n%q", buf.String(), want)
	}
	buf.Reset()
	s.add(550_000)
	p.end(s, "copied core.t_sessions: 1000000 rows in 5s")
	if buf.String() != "\r\x1b[Kcopied core.t_sessions: 1000000 rows in 5s\n" {
		t.Fatalf("end %q", buf.String())
	}
	buf.Reset()
	p.tick() // between steps: nothing to draw
	f := p.begin("files", "bytes", 3<<30)
	f.add(1 << 30)
	*now = now.Add(4 * time.Second)
	p.tick()
	if want := "files [==========>                   ] 33% 1.0 GiB/3.0 GiB 256 MiB/s"; !strings.HasSuffix(buf.String(), want) || !strings.HasPrefix(buf.String(), "\r\x1b[K") {
		t.Fatalf("files bar %q, want %q", buf.String(), want)
	}
}

// Without a terminal (CI logs, kubectl logs) no control characters, one line per period.
func TestProgressPlainLines(t *testing.T) {
	p, buf, now := newClockedProgress(false)
	s := p.begin("logging.t_logins", "rows", 800)
	s.add(200)
	*now = now.Add(9 * time.Second)
	p.tick()
	if buf.Len() != 0 {
		t.Fatalf("a line before the period: %q", buf.String())
	}
	*now = now.Add(1 * time.Second)
	p.tick()
	*now = now.Add(1 * time.Second)
	p.tick()
	if buf.String() != "logging.t_logins: 25% 200/800 rows 20 rows/s\n" {
		t.Fatalf("plain %q", buf.String())
	}
	p.end(s, "copied logging.t_logins: 800 rows in 12s")
	if strings.ContainsAny(buf.String(), "\r\x1b") || !strings.HasSuffix(buf.String(), "rows/s\ncopied logging.t_logins: 800 rows in 12s\n") {
		t.Fatalf("plain %q", buf.String())
	}
	// No writer, no progress: every call is a no-op.
	var none *progress
	none.end(none.begin("x", "rows", 1), "x")
	none.close()
}
