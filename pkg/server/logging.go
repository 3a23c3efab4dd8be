package server

import (
	"io"
	"log/slog"
)

// NewLogger builds the process logger from a validated LogConfig.
func NewLogger(w io.Writer, c LogConfig) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
