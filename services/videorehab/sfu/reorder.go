package sfu

import "github.com/pion/rtp"

// reorderWindow is how many packets a recording holds back waiting for a missing one (a
// retransmission answering a NACK arrives late): about a second of 1 Mb/s video.
const reorderWindow = 128

// reorder releases a track's packets in sequence-number order for its file: pion's writers
// append payloads in arrival order, so a packet out of order would corrupt the frame it lands
// in. A gap still open once reorderWindow packets wait is given up (the packet is lost) and
// packets older than what was released are dropped.
type reorder struct {
	buf     map[uint16]*rtp.Packet
	next    uint16
	started bool
}

// seqBefore reports whether a comes before b, modulo 2^16.
func seqBefore(a, b uint16) bool { return int16(a-b) < 0 }

// push adds p and returns the packets now in order (nil when p is too late or a duplicate,
// reported by late).
func (r *reorder) push(p *rtp.Packet, out []*rtp.Packet) (_ []*rtp.Packet, late bool) {
	seq := p.SequenceNumber
	if !r.started {
		r.buf, r.next, r.started = map[uint16]*rtp.Packet{}, seq, true
	}
	if seqBefore(seq, r.next) || r.buf[seq] != nil {
		return out, true
	}
	r.buf[seq] = p
	out = r.release(out)
	if len(r.buf) > reorderWindow {
		// Give up on the gap: resume at the oldest packet waiting.
		r.next = r.oldest()
		out = r.release(out)
	}
	return out, false
}

// release appends the run of packets from next on.
func (r *reorder) release(out []*rtp.Packet) []*rtp.Packet {
	for {
		p := r.buf[r.next]
		if p == nil {
			return out
		}
		delete(r.buf, r.next)
		out = append(out, p)
		r.next++
	}
}

// flush returns every packet still waiting, in order.
func (r *reorder) flush(out []*rtp.Packet) []*rtp.Packet {
	for len(r.buf) > 0 {
		r.next = r.oldest()
		out = r.release(out)
	}
	return out
}

// oldest is the waiting packet closest after next (every waiting packet is after it).
func (r *reorder) oldest() uint16 {
	best, dist := r.next, -1
	for s := range r.buf {
		if d := int(s - r.next); dist < 0 || d < dist {
			best, dist = s, d
		}
	}
	return best
}
