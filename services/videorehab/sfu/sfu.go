// Package sfu is the videorehab target's selective forwarding unit on pion/webrtc v4: many
// rooms per process, every publisher's tracks forwarded to every other peer of its room, a
// keyframe requested from the publisher when a subscriber starts or asks for one, NACK, RTCP
// reports and transport-wide congestion control from pion/interceptor, and the loudest
// publisher of each room reported as its active speaker (RFC 6464 audio level).
//
// Media of all peers share one UDP port (pion's UDP mux) plus one ICE-TCP port, so a pod
// exposes two ports whatever its number of rooms; the public address is configured (NAT 1:1),
// as are the STUN/TURN servers handed to clients. Signalling is not here: a Peer takes and
// produces session descriptions and candidates, the signal package carries them.
//
// The server is always the offerer: a client that wants to publish asks for receive slots
// (Peer.Publish) and answers the server's offer with its tracks attached, so no offer can
// cross another one (no glare) and renegotiation has a single driver per peer.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Config configures the media side of one process.
type Config struct {
	// UDPPort is the one UDP port of every peer's media (0: a free port, for tests).
	UDPPort int
	// TCPPort is the ICE-TCP port, the fallback for networks that drop UDP (0: a free port;
	// -1: no ICE-TCP).
	TCPPort int
	// ListenIPs restricts the addresses media listens on (empty: every interface's).
	ListenIPs []string
	// PublicIPs are announced instead of the pod's own addresses (NAT 1:1: the node's or load
	// balancer's address when the pod's is not reachable by clients).
	PublicIPs []string
	// ICEServers are the STUN/TURN servers given to clients (and used by the SFU to gather
	// server-reflexive candidates when PublicIPs is empty).
	ICEServers []webrtc.ICEServer
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("sfu: udp port %d out of range", c.UDPPort)
	}
	if c.TCPPort < -1 || c.TCPPort > 65535 {
		return fmt.Errorf("sfu: tcp port %d out of range", c.TCPPort)
	}
	for _, ip := range slices.Concat(c.ListenIPs, c.PublicIPs) {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("sfu: %q is not an IP address", ip)
		}
	}
	for _, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return errors.New("sfu: an ICE server has no URL")
		}
	}
	return nil
}

// socketBuffer is the media socket's requested receive and send buffer.
const socketBuffer = 8 << 20

// SFU holds the rooms of one process and the API (media engine, interceptors, muxed sockets)
// their peer connections are made with.
type SFU struct {
	cfg    Config
	log    *slog.Logger
	api    *webrtc.API
	udp    *ice.MultiUDPMuxDefault
	tcp    ice.TCPMux
	tcpLn  net.Listener
	closed atomic.Bool

	mu    sync.Mutex
	rooms map[string]*Room

	onRecorded func(room, dir string, files []RecordedFile)

	// forwarded counts RTP packets written to subscribers; received counts packets read from
	// publishers; the bytes are their RTP sizes. nacks and plisIn count subscribers' NACK and
	// PLI/FIR messages, plisOut the keyframe requests sent to publishers.
	forwarded, received, forwardedBytes, receivedBytes atomic.Uint64
	nacks, plisIn, plisOut                             atomic.Uint64
	// recordings is the number of rooms recording; recordedTracks counts tracks recorded.
	recordings     atomic.Int64
	recordedTracks atomic.Uint64
}

// New opens the media ports and returns an SFU with no rooms.
func New(cfg Config, log *slog.Logger) (*SFU, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &SFU{cfg: cfg, log: log, rooms: map[string]*Room{}}

	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("sfu: codecs: %w", err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("sfu: audio level extension: %w", err)
	}
	ir := &interceptor.Registry{}
	// NACK generator and responder, RTCP sender/receiver reports, stats, TWCC feedback and
	// the transport-cc header extension.
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}

	listen := map[string]bool{}
	for _, ip := range cfg.ListenIPs {
		listen[net.ParseIP(ip).String()] = true
	}
	// Every peer's media crosses this one socket: ask for large buffers (the kernel caps them at
	// net.core.rmem_max / wmem_max).
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4, ice.NetworkTypeUDP6),
		ice.UDPMuxFromPortWithReadBufferSize(socketBuffer), ice.UDPMuxFromPortWithWriteBufferSize(socketBuffer)}
	if len(listen) > 0 {
		opts = append(opts, ice.UDPMuxFromPortWithIPFilter(func(ip net.IP) bool { return listen[ip.String()] }))
		for ip := range listen {
			if net.ParseIP(ip).IsLoopback() {
				opts = append(opts, ice.UDPMuxFromPortWithLoopback())
				break
			}
		}
	}
	udp, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
	if err != nil {
		return nil, fmt.Errorf("sfu: udp port %d: %w", cfg.UDPPort, err)
	}
	s.udp = udp

	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(udp)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort >= 0 {
		host := ""
		if len(cfg.ListenIPs) == 1 {
			host = cfg.ListenIPs[0]
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(cfg.TCPPort)))
		if err != nil {
			_ = udp.Close()
			return nil, fmt.Errorf("sfu: tcp port %d: %w", cfg.TCPPort, err)
		}
		s.tcpLn = ln
		s.tcp = webrtc.NewICETCPMux(nil, ln, 64)
		se.SetICETCPMux(s.tcp)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	if len(listen) > 0 {
		se.SetIPFilter(func(ip net.IP) bool { return listen[ip.String()] })
		for ip := range listen {
			if net.ParseIP(ip).IsLoopback() {
				se.SetIncludeLoopbackCandidate(true)
			}
		}
	}
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	// mDNS candidates from clients cannot be resolved inside a cluster; the SFU never sends any.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return s, nil
}

// UDPAddrs are the addresses the media UDP port listens on.
func (s *SFU) UDPAddrs() []net.Addr { return s.udp.GetListenAddresses() }

// TCPAddr is the ICE-TCP listener's address (nil when off).
func (s *SFU) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// ICEServers are the STUN/TURN servers clients should use.
func (s *SFU) ICEServers() []webrtc.ICEServer { return slices.Clone(s.cfg.ICEServers) }

// Stats are the process's counters.
type Stats struct {
	Rooms, Peers, Tracks int
	// Recordings is the number of rooms recording now.
	Recordings int
	// RTP packets and bytes read from publishers and written to subscribers (one per
	// subscriber).
	Received, Forwarded           uint64
	ReceivedBytes, ForwardedBytes uint64
	// NACKs and PLIs (with FIRs) received from subscribers; KeyframeRequests sent to
	// publishers (coalesced, so fewer than PLIs); RecordedTracks counts tracks recorded.
	NACKs, PLIs, KeyframeRequests, RecordedTracks uint64
}

// Stats returns the process's counters.
func (s *SFU) Stats() Stats {
	st := Stats{Received: s.received.Load(), Forwarded: s.forwarded.Load(), ReceivedBytes: s.receivedBytes.Load(),
		ForwardedBytes: s.forwardedBytes.Load(), NACKs: s.nacks.Load(), PLIs: s.plisIn.Load(), KeyframeRequests: s.plisOut.Load(),
		RecordedTracks: s.recordedTracks.Load(), Recordings: int(s.recordings.Load())}
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st.Rooms = len(rooms)
	for _, r := range rooms {
		r.mu.Lock()
		st.Peers += len(r.peers)
		st.Tracks += len(r.tracks)
		r.mu.Unlock()
	}
	return st
}

// ErrClosed is returned once the SFU is closed.
var ErrClosed = errors.New("sfu: closed")

// Room returns the room id, creating it when it does not exist.
func (s *SFU) Room(id string) (*Room, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[id]
	if r == nil {
		r = newRoom(s, id)
		s.rooms[id] = r
	}
	return r, nil
}

// Lookup returns the room id if it exists on this process.
func (s *SFU) Lookup(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// Rooms returns the ids of the process's rooms.
func (s *SFU) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.rooms))
	for id := range s.rooms {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// roomEmpty drops r once its last peer left (a newcomer racing the drop gets a new room).
func (s *SFU) roomEmpty(r *Room) {
	s.mu.Lock()
	empty := s.rooms[r.id] == r && r.closeIfEmpty()
	if empty {
		delete(s.rooms, r.id)
	}
	s.mu.Unlock()
	if empty {
		r.close()
	}
}

// Close ends every peer connection and releases the ports.
func (s *SFU) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		for _, p := range r.Peers() {
			p.Close("server shutting down")
		}
	}
	err := s.udp.Close()
	if s.tcp != nil {
		err = errors.Join(err, s.tcp.Close())
	}
	return err
}
