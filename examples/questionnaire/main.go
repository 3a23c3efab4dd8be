// Command questionnaire is a small external Tera service built on pkg/servicekit: a
// questionnaire that participants fill in from a page the site's ingress serves at the
// service's client endpoint. It shows every part of the service contract — a token from its
// client secret, the service API, users' and participants' tokens verified locally with their
// service_access roles, DatabaseEvents through its durable consumer, and an answer to OpenTera's
// session_type_config RPC. See README.md beside it.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tera-health/tera/pkg/servicekit"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("questionnaire stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := servicekit.LoadConfig(os.Getenv("QUESTIONNAIRE_CONFIG"))
	if err != nil {
		return err
	}
	kit, err := servicekit.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer kit.Close()
	go func() { _ = kit.Run(ctx) }()

	q := newQuestionnaire(kit, envOr("QUESTIONNAIRE_PREFIX", "/questionnaire"), log)
	rpc, err := kit.ServeRPC("1.0.0", map[string]servicekit.RPCHandler{servicekit.MethodSessionTypeConfig: q.sessionTypeConfig})
	if err != nil {
		return err
	}
	defer func() { _ = rpc.Stop() }()
	go func() {
		// participant and session events: the service forgets the answers of deleted participants.
		if err := kit.ConsumeDatabaseEvents(ctx, []string{"participant", "session"}, q.onEvent); err != nil {
			log.Error("database events stopped", "err", err)
			stop()
		}
	}()

	srv := &http.Server{Addr: cfg.Listen, Handler: q.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("questionnaire serving", "listen", cfg.Listen, "prefix", q.prefix, "service_uuid", kit.Tokens.ServiceUUID)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
