package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/migrations"
)

func newMigrateCmd() *cobra.Command {
	var flags configFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded database migrations (safe to run from several places at once)",
		Long: `Apply every embedded migration the database lacks. Concurrent runs serialise on a PostgreSQL
advisory lock: one applies, the others wait and find nothing to do. A database migrated by a newer
Tera is refused rather than touched.`,
		Example: `  tera migrate --database-url=postgres://tera:secret@localhost:5432/tera`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			if err := cfg.Validate(true, false); err != nil {
				return err
			}
			log := logger(cfg, "migrate")
			pool, err := fleet.OpenDB(cmd.Context(), cfg.Database)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := migrations.Apply(cmd.Context(), pool, log); err != nil {
				return err
			}
			v, err := migrations.Current(cmd.Context(), pool)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "database at schema version %d\n", v)
			return nil
		},
	}
	flags.register(cmd, false)
	return cmd
}
