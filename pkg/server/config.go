package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/tera-health/tera/pkg/config"
)

// Config is what every target's server needs. Services embed it in their own configuration.
type Config struct {
	// HTTP serves REST (grpc-gateway), /livez, /readyz, /metrics and /doc.
	HTTP ListenConfig `json:"http"`
	// GRPC serves the gRPC API, health and reflection.
	GRPC ListenConfig `json:"grpc"`
	// ShutdownTimeout bounds the graceful drain after a stop signal.
	ShutdownTimeout config.Duration `json:"shutdown_timeout"`
	// MaxBodyBytes caps REST request bodies; larger ones are refused with 400 (reason
	// ERROR_REASON_TOO_LARGE in the X-Tera-Error-Reason header), as every other bad input.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// ReadinessTimeout bounds each dependency check behind /readyz.
	ReadinessTimeout config.Duration `json:"readiness_timeout"`
}

// ListenConfig is one listener.
type ListenConfig struct {
	Listen string `json:"listen"`
}

// DefaultConfig is used for anything a file, the environment or flags leave unset.
func DefaultConfig() Config {
	return Config{
		HTTP:             ListenConfig{Listen: ":8080"},
		GRPC:             ListenConfig{Listen: ":9090"},
		ShutdownTimeout:  config.Duration(25 * time.Second),
		MaxBodyBytes:     8 << 20,
		ReadinessTimeout: config.Duration(2 * time.Second),
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for name, l := range map[string]ListenConfig{"http.listen": c.HTTP, "grpc.listen": c.GRPC} {
		if _, _, err := net.SplitHostPort(l.Listen); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port: %w", name, l.Listen, err))
		}
	}
	if c.ShutdownTimeout.D() <= 0 {
		errs = append(errs, errors.New("shutdown_timeout must be positive"))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max_body_bytes must be positive"))
	}
	if c.ReadinessTimeout.D() <= 0 {
		errs = append(errs, errors.New("readiness_timeout must be positive"))
	}
	return errors.Join(errs...)
}

// LogConfig selects the slog handler.
type LogConfig struct {
	Level  string `json:"level" env:"TERA_LOG_LEVEL"`
	Format string `json:"format" env:"TERA_LOG_FORMAT"`
}

// Validate checks level and format.
func (l LogConfig) Validate() error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", l.Level)
	}
	if l.Format != "json" && l.Format != "text" {
		return fmt.Errorf("log.format: %q is not json or text", l.Format)
	}
	return nil
}
