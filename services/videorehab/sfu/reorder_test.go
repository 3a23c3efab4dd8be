package sfu

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pion/rtp"
)

func seqs(ps []*rtp.Packet) []uint16 {
	out := make([]uint16, len(ps))
	for i, p := range ps {
		out[i] = p.SequenceNumber
	}
	return out
}

func pkt(seq uint16) *rtp.Packet { return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq}} }

// Packets shuffled within the window come out in order, across the 16-bit wrap; a late
// duplicate is refused.
func TestReorderRestoresSequenceOrder(t *testing.T) {
	start := uint16(65536 - 300)
	in := make([]uint16, 1000)
	for i := range in {
		in[i] = start + uint16(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+16 <= len(in); i += 16 { // shuffle within blocks of 16 (well inside the window)
		rng.Shuffle(16, func(a, b int) { in[i+a], in[i+b] = in[i+b], in[i+a] })
	}
	// The first packet decides where the run starts: put the block's first first.
	j := slices.Index(in[:16], start)
	in[0], in[j] = in[j], in[0]
	var r reorder
	var out []*rtp.Packet
	for _, s := range in {
		var late bool
		out, late = r.push(pkt(s), out)
		if late {
			t.Fatalf("%d refused as late", s)
		}
	}
	out = r.flush(out)
	got := seqs(out)
	for i, s := range got {
		if s != start+uint16(i) {
			t.Fatalf("packet %d is %d, want %d (wrapped at 65535)", i, s, start+uint16(i))
		}
	}
	if len(got) != len(in) {
		t.Fatalf("%d packets out, want %d", len(got), len(in))
	}
	if _, late := r.push(pkt(start+5), nil); !late {
		t.Fatal("a packet older than those released was not refused")
	}
}

// A gap still open with a window of packets waiting is given up: the packets after it go out
// and the missing one, arriving later, is refused.
func TestReorderGivesUpOnAGap(t *testing.T) {
	var r reorder
	var out []*rtp.Packet
	out, _ = r.push(pkt(10), out)
	// 11 never comes (yet).
	for s := uint16(12); s <= 12+reorderWindow; s++ {
		out, _ = r.push(pkt(s), out)
	}
	got := seqs(out)
	if len(got) != reorderWindow+2 || got[0] != 10 || got[1] != 12 || got[len(got)-1] != 12+reorderWindow {
		t.Fatalf("released %v..., %d packets, want 10 then 12..%d", got[:min(3, len(got))], len(got), 12+reorderWindow)
	}
	if _, late := r.push(pkt(11), nil); !late {
		t.Fatal("the packet of the abandoned gap was accepted after the packets after it went out")
	}
}
