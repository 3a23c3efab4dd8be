// Command tera is the one binary of the Tera fleet: every target (`serve`), the zero-setup
// development fleet (`dev`), and the operational commands (`migrate`, `seed`, `admin`, `version`).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tera:", err)
		os.Exit(1)
	}
}

// signalContext is cancelled by the first SIGINT/SIGTERM (graceful drain); a second one exits
// at once, for the operator who does not want to wait.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		fmt.Fprintln(os.Stderr, "tera: second signal, exiting now")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tera",
		Short: "Tera: the OpenTera telehealth platform as a cloud-native fleet",
		Long: `Tera serves OpenTera's API (sites, projects, participants, sessions, devices, video
sessions, assets) so existing OpenTera clients work unchanged.

Start here:
  tera dev                 the whole fleet in one process, with its own PostgreSQL and NATS
  tera serve --target=core one or more targets, as the Kubernetes operator runs them
  tera migrate             apply the database schema

Every command that touches the database takes --database-url (env TERA_DATABASE_URL).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newDevCmd(), newMigrateCmd(), newSeedCmd(), newImportCmd(), newAdminCmd(), newServiceCmd(), newVersionCmd())
	return root
}
