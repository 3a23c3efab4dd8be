package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/videorehab"
	"github.com/tera-health/tera/services/videorehab/sfu"
	"github.com/tera-health/tera/services/videorehab/signal"
)

// buildVideoRehab builds the videorehab target (services/videorehab): the session manager of
// video sessions, with the SFU's signalling mounted at /rehab/signal.
func buildVideoRehab(d *Deps) ([]server.Service, error) {
	c := d.Config.VideoRehab
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if d.Verifier == nil {
		return nil, errors.New("videorehab: the signalling needs signing keys (auth.signing_keys_dir)")
	}
	sc, err := c.sfuConfig()
	if err != nil {
		return nil, err
	}
	media, err := sfu.New(sc, d.Log)
	if err != nil {
		return nil, fmt.Errorf("videorehab: %w", err)
	}
	h, err := signal.New(signal.Options{SFU: media, Verifier: d.Verifier, Admitter: videorehab.Admitter{DB: d.DB}, Log: d.Log,
		RecordDir: c.RecordDir})
	if err != nil {
		_ = media.Close()
		return nil, err
	}
	if d.Metrics != nil {
		if err := d.Metrics.Register(media.Collector()); err != nil {
			_ = media.Close()
			return nil, fmt.Errorf("videorehab metrics: %w", err)
		}
	}
	o := videorehab.Options{DB: d.DB, NATS: d.NATS, JS: d.JS, Log: d.Log, PublicURL: d.Config.PublicURL, SFU: media, Signal: h,
		FileTransferURL: c.FileTransferURL}
	if d.Keys != nil {
		o.Signer = &authn.Signer{Keys: d.Keys}
	}
	return []server.Service{videorehab.New(o)}, nil
}

// sfuConfig is the SFU's configuration, public_host resolved when it is a name.
func (c VideoRehabConfig) sfuConfig() (sfu.Config, error) {
	sc := sfu.Config{UDPPort: c.UDPPort, TCPPort: c.TCPPort, ListenIPs: c.ListenIPs, PublicIPs: append([]string(nil), c.PublicIPs...)}
	if h := c.PublicHost; h != "" {
		if net.ParseIP(h) != nil {
			sc.PublicIPs = append(sc.PublicIPs, h)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", h)
			cancel()
			if err != nil || len(ips) == 0 {
				return sc, fmt.Errorf("videorehab.public_host %q not resolved: %v", h, err)
			}
			for _, ip := range ips {
				sc.PublicIPs = append(sc.PublicIPs, ip.String())
			}
		}
	}
	for _, u := range c.TURNURLs {
		s := webrtc.ICEServer{URLs: []string{u}}
		if !strings.HasPrefix(u, "stun:") {
			s.Username, s.Credential = c.TURNUsername, c.TURNCredential
		}
		sc.ICEServers = append(sc.ICEServers, s)
	}
	return sc, nil
}
