// Package natsserver runs an embedded NATS server with JetStream, for `tera dev` and tests.
package natsserver

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for the embedded server.
type Options struct {
	// StoreDir holds JetStream data.
	StoreDir string
	// Port at 127.0.0.1; 0 picks a free one.
	Port int
}

// Start runs a server and returns once it accepts connections.
func Start(opts Options) (*server.Server, error) {
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "tera-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// Bound memory so a dev laptop or a test run cannot be eaten by a runaway stream.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  4 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("configure embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats did not become ready within 10s")
	}
	return s, nil
}
