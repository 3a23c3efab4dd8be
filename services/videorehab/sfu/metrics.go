package sfu

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the SFU's Stats as Prometheus metrics (tera_videorehab_*), read when
// scraped.
func (s *SFU) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *SFU }

var (
	descRooms      = prometheus.NewDesc("tera_videorehab_rooms", "Rooms open on this process.", nil, nil)
	descPeers      = prometheus.NewDesc("tera_videorehab_peers", "Peers connected to this process's rooms.", nil, nil)
	descTracks     = prometheus.NewDesc("tera_videorehab_tracks", "Tracks published in this process's rooms.", nil, nil)
	descRecordings = prometheus.NewDesc("tera_videorehab_recordings_active", "Rooms recording now.", nil, nil)
	descPackets    = prometheus.NewDesc("tera_videorehab_rtp_packets_total",
		"RTP packets read from publishers (received) and written to subscribers (forwarded, one per subscriber).", []string{"direction"}, nil)
	descBytes = prometheus.NewDesc("tera_videorehab_rtp_bytes_total",
		"RTP bytes read from publishers (received) and written to subscribers (forwarded).", []string{"direction"}, nil)
	descNACKs = prometheus.NewDesc("tera_videorehab_nacks_received_total", "RTCP NACK messages received from subscribers.", nil, nil)
	descPLIs  = prometheus.NewDesc("tera_videorehab_plis_received_total", "RTCP PLI and FIR messages received from subscribers.", nil, nil)
	descKeys  = prometheus.NewDesc("tera_videorehab_keyframe_requests_total",
		"PLIs sent to publishers (a subscriber's request, a newcomer, a recording's start; coalesced).", nil, nil)
	descRecorded = prometheus.NewDesc("tera_videorehab_recorded_tracks_total", "Tracks recorded to a file.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRooms, descPeers, descTracks, descRecordings, descPackets, descBytes, descNACKs,
		descPLIs, descKeys, descRecorded} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	count := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descRooms, st.Rooms)
	gauge(descPeers, st.Peers)
	gauge(descTracks, st.Tracks)
	gauge(descRecordings, st.Recordings)
	count(descPackets, st.Received, "received")
	count(descPackets, st.Forwarded, "forwarded")
	count(descBytes, st.ReceivedBytes, "received")
	count(descBytes, st.ForwardedBytes, "forwarded")
	count(descNACKs, st.NACKs)
	count(descPLIs, st.PLIs)
	count(descKeys, st.KeyframeRequests)
	count(descRecorded, st.RecordedTracks)
}
