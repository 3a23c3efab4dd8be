package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tera-health/tera/services/internal/devmode"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/migrations"
	"github.com/tera-health/tera/services/internal/seed"
)

// devSeeder seeds `tera dev`'s database; re-running it on a seeded database changes nothing.
func devSeeder(ctx context.Context, pool *pgxpool.Pool, testData bool) (devmode.Credentials, error) {
	if testData {
		if err := seed.TestData(ctx, pool); err != nil {
			return devmode.Credentials{}, fmt.Errorf("seed test data: %w", err)
		}
		return devmode.Credentials{Username: "admin", Password: "admin", Note: "test fixture: also siteadmin, user, user2, user3, user4 (password = username), participant1/opentera"}, nil
	}
	if err := seed.Defaults(ctx, pool); err != nil {
		return devmode.Credentials{}, fmt.Errorf("seed defaults: %w", err)
	}
	return devmode.Credentials{Username: "admin", Password: "admin", Note: "you will be asked to change it at first login"}, nil
}

func newSeedCmd() *cobra.Command {
	var flags configFlags
	var testData bool
	var scale int
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Create OpenTera's defaults, its test fixture (--test-data) or a large synthetic set (--scale N)",
		Long: `Seed the database (migrating it first). Without flags: OpenTera's production defaults (server
settings, system services, "Default Site", user admin/admin who must change that password at
first login). --test-data: OpenTera's test fixture, exactly (same ids, names, passwords, links).
Both are idempotent. --scale N adds N synthetic participants with ~10 sessions each, for
benchmarks.`,
		Example: `  tera seed --database-url=postgres://tera@localhost/tera
  tera seed --test-data
  tera seed --scale 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if testData && scale > 0 {
				return fmt.Errorf("--test-data and --scale cannot be combined; run them one after the other")
			}
			if scale < 0 {
				return fmt.Errorf("--scale must be positive, got %d", scale)
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			if err := cfg.Validate(true, false); err != nil {
				return err
			}
			log := logger(cfg, "seed")
			ctx := cmd.Context()
			pool, err := fleet.OpenDB(ctx, cfg.Database)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := migrations.Apply(ctx, pool, log); err != nil {
				return err
			}
			switch {
			case scale > 0:
				res, err := seed.ScaleWith(ctx, pool, seed.ScaleOptions{Participants: scale, SessionsPerParticipant: 10})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %d participants, %d sessions in %d projects of %d sites\n", res.Participants, res.Sessions, res.Projects, res.Sites)
			case testData:
				if err := seed.TestData(ctx, pool); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "test fixture in place")
			default:
				if err := seed.Defaults(ctx, pool); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "defaults in place")
			}
			return nil
		},
	}
	flags.register(cmd, false)
	cmd.Flags().BoolVar(&testData, "test-data", false, "OpenTera's test fixture instead of the production defaults")
	cmd.Flags().IntVar(&scale, "scale", 0, "add this many synthetic participants (~10 sessions each)")
	return cmd
}
