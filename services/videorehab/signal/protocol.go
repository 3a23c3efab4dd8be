// Package signal is the videorehab target's signalling: a websocket per peer that joins a
// room of the SFU (services/videorehab/sfu) and carries its session descriptions, ICE
// candidates and the room's events as JSON messages.
//
// The socket is opened at the handler's path with the session key and a token:
//
//	GET <path>?key=<session_key>&token=<user, participant or device token>
//
// (the token may come in an `Authorization: OpenTera|Bearer <token>` header instead). A bad
// or missing token is refused with 401 before the upgrade, a session key the caller is not
// admitted to with 403. A room lives on one pod (room → pod in NATS KV): a pod that does not
// own the room accepts the socket, sends {"type":"redirect","url":…} with the owning pod's
// signalling URL (the client opens it with the same query) and closes.
//
// Messages (every message is one JSON object with a "type"):
//
//	client → server
//	  join          {name?, publish?: ["audio","video"]}   first message; publish asks for receive slots
//	  answer        {sdp}                                   answer to the server's last offer
//	  candidate     {candidate: RTCIceCandidateInit}
//	  publish       {kinds: ["video"]}                      more receive slots (screen share)
//	  unpublish     {track_id}                              the client's own track id
//	  mute          {track_id, muted}                       the client's own track id
//	  renegotiation {ice_restart?}                          ask for a new offer
//	  record        {recording: true|false}                 start or stop the room's recording (users only)
//	  leave         {}
//	server → client
//	  joined        {peer_id, room, ice_servers, peers: [{peer, tracks}]}
//	  offer         {sdp, slots: [{mid, kind}]}             the client attaches its tracks to slots
//	  candidate     {candidate}
//	  peer_joined   {peer}      peer_left {peer}
//	  track_published {track}   track_unpublished {track}   track_muted {track}
//	  active_speaker {peer_id}
//	  recording     {recording, peer?}                      the room started or stopped recording (peer: who
//	                                                        asked); sent after joined when the room records
//	  redirect      {url}       error {message}             closed {message}
//
// The server is always the offerer (no glare): publishing is asking for slots, then answering
// the offer that carries them with the tracks attached. A browser attaches a track to a slot
// by its mid (transceiver.sender.replaceTrack(track), transceiver.direction = "sendonly"),
// never with addTrack, which may pick a receiving m-line. Every m-line the server sends on is
// send-only; one whose track ended turns inactive and is not reused. A track's track_id and stream_id are
// its msid in the subscriber's session description; stream_id is the publisher's peer_id.
//
// A recording (record) writes every track of the room to a file of its own on the room's pod
// (IVF video, Ogg Opus audio: sfu.RecordOptions) until it is stopped, the room empties or the
// pod shuts down; the files then become assets of the session (services/videorehab's
// recordings.go). It is a message of the socket, not a session-manager action, because the
// room, hence its media, lives on the pod that serves the socket, while session_manage may be
// answered by any replica.
package signal

import (
	"github.com/pion/webrtc/v4"

	"github.com/tera-health/tera/services/videorehab/sfu"
)

// Message types.
const (
	TypeJoin             = "join"
	TypeJoined           = "joined"
	TypeOffer            = "offer"
	TypeAnswer           = "answer"
	TypeCandidate        = "candidate"
	TypePublish          = "publish"
	TypeUnpublish        = "unpublish"
	TypeMute             = "mute"
	TypeRenegotiation    = "renegotiation"
	TypeLeave            = "leave"
	TypePeerJoined       = "peer_joined"
	TypePeerLeft         = "peer_left"
	TypeTrackPublished   = "track_published"
	TypeTrackUnpublished = "track_unpublished"
	TypeTrackMuted       = "track_muted"
	TypeActiveSpeaker    = "active_speaker"
	TypeRecord           = "record"
	TypeRecording        = "recording"
	TypeRedirect         = "redirect"
	TypeError            = "error"
	TypeClosed           = "closed"
)

// Message is every message of the protocol, both ways; fields a type does not use are left
// out.
type Message struct {
	Type string `json:"type"`

	// join
	Name    string   `json:"name,omitempty"`
	Publish []string `json:"publish,omitempty"`
	// publish
	Kinds []string `json:"kinds,omitempty"`
	// offer, answer
	SDP   string     `json:"sdp,omitempty"`
	Slots []sfu.Slot `json:"slots,omitempty"`
	// candidate
	Candidate *sfu.CandidateInit `json:"candidate,omitempty"`
	// unpublish, mute
	TrackID string `json:"track_id,omitempty"`
	Muted   *bool  `json:"muted,omitempty"`
	// renegotiation
	ICERestart bool `json:"ice_restart,omitempty"`
	// record, recording
	Recording *bool `json:"recording,omitempty"`

	// joined
	PeerID     string             `json:"peer_id,omitempty"`
	Room       string             `json:"room,omitempty"`
	ICEServers []webrtc.ICEServer `json:"ice_servers,omitempty"`
	Peers      []PeerState        `json:"peers,omitempty"`
	// peer_joined, peer_left
	Peer *sfu.PeerInfo `json:"peer,omitempty"`
	// track_*
	Track *sfu.TrackInfo `json:"track,omitempty"`
	// redirect
	URL string `json:"url,omitempty"`
	// error, closed
	Message string `json:"message,omitempty"`
}

// PeerState is a peer already in the room and the tracks it publishes, in joined.
type PeerState struct {
	Peer   sfu.PeerInfo    `json:"peer"`
	Tracks []sfu.TrackInfo `json:"tracks"`
}
