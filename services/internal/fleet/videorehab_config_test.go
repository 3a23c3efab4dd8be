package fleet

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tera-health/tera/pkg/config"
)

// The videorehab settings are checked all at once, reach the SFU's configuration (public_host
// an IP joining public_ips, TURN credentials on turn: URLs only) and print the credential
// redacted.
func TestVideoRehabConfig(t *testing.T) {
	if err := DefaultConfig().VideoRehab.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := VideoRehabConfig{UDPPort: 70000, TCPPort: -2, ListenIPs: []string{"localhost"}, PublicIPs: []string{"1.2.3"},
		PublicHost: "not a host", TURNURLs: []string{"http://turn.example"}, FileTransferURL: "ftp://files"}
	err := bad.Validate()
	for _, want := range []string{"udp_port", "tcp_port", "listen_ips[0]", "public_ips[0]", "public_host", "turn_urls[0]", "filetransfer_url"} {
		if err == nil || !strings.Contains(err.Error(), "videorehab."+want) {
			t.Errorf("%s not reported: %v", want, err)
		}
	}
	c := VideoRehabConfig{UDPPort: 10000, TCPPort: -1, PublicIPs: []string{"198.51.100.1"}, PublicHost: "203.0.113.7",
		TURNURLs: []string{"stun:stun.example:3478", "turn:turn.example:3478"}, TURNUsername: "tera", TURNCredential: "s3cret-turn"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sc, err := c.sfuConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if sc.UDPPort != 10000 || sc.TCPPort != -1 || !slices.Equal(sc.PublicIPs, []string{"198.51.100.1", "203.0.113.7"}) || len(sc.ICEServers) != 2 ||
		sc.ICEServers[0].Username != "" || sc.ICEServers[1].Username != "tera" || sc.ICEServers[1].Credential != "s3cret-turn" {
		t.Fatalf("sfu config: %+v", sc)
	}
	cfg := DefaultConfig()
	cfg.VideoRehab = c
	if s := fmt.Sprint(config.Redacted(cfg)...); strings.Contains(s, "s3cret-turn") || !strings.Contains(s, "videorehab.turn_username") {
		t.Fatalf("printed: %s", s)
	}
}
