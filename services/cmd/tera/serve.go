package main

import (
	"github.com/spf13/cobra"

	"github.com/tera-health/tera/services/internal/fleet"
)

func newServeCmd() *cobra.Command {
	var flags configFlags
	var targets string
	cmd := &cobra.Command{
		Use:   "serve --target=<name>[,<name>...]|all",
		Short: "Run one or more targets (what each Kubernetes Deployment runs)",
		Long: `Run one or more targets of the fleet in this process. Each Deployment of a site runs the same
image with a different --target, so each target scales on its own; --target=all runs the whole
fleet in one process. Known targets: ` + joinKnown() + `.`,
		Example: `  tera serve --target=core --config=/etc/tera/tera.yaml
  TERA_DATABASE_URL=postgres://tera@db/tera TERA_NATS_URL=nats://nats:4222 tera serve --target=all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := fleet.Resolve(targets)
			if err != nil {
				return err
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			log := logger(cfg, "serve")
			tracing, err := fleet.TracingFromEnv(cmd.Context(), ts)
			if err != nil {
				return err
			}
			p, err := fleet.Start(cmd.Context(), cfg, ts, fleet.Options{Log: log, Tracing: tracing})
			if err != nil {
				_ = tracing.Shutdown(cmd.Context())
				return err
			}
			return p.Run(cmd.Context())
		},
	}
	flags.register(cmd, true)
	cmd.Flags().StringVar(&targets, "target", "", "comma-separated targets to run, or all (required)")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}
