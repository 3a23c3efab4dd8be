package fleet

import (
	"errors"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/usermanager"
	"github.com/tera-health/tera/services/websocket"
)

// buildWebsocket builds the websocket target (services/websocket).
func buildWebsocket(d *Deps) ([]server.Service, error) {
	if d.Verifier == nil || d.Verifier.State == nil {
		return nil, errors.New("auth.signing_keys_dir is required by the websocket target (connect keys live beside the token state)")
	}
	return []server.Service{websocket.New(websocket.Options{DB: d.DB, NATS: d.NATS, JS: d.JS, State: d.Verifier.State,
		Log: d.Log, Metrics: d.Metrics, Tracing: d.Tracing})}, nil
}

// buildUserManager builds the usermanager target (services/usermanager).
func buildUserManager(d *Deps) ([]server.Service, error) {
	if d.Verifier == nil {
		return nil, errors.New("auth.signing_keys_dir is required by the usermanager target")
	}
	return []server.Service{usermanager.New(usermanager.Options{DB: d.DB, NATS: d.NATS, JS: d.JS, Verifier: d.Verifier,
		Log: d.Log, Tracing: d.Tracing})}, nil
}
