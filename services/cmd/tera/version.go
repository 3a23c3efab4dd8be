package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/migrations"
	"github.com/tera-health/tera/services/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, schema version and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			schema, err := migrations.Latest()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tera %s (commit %s, schema %d, %s)\n", version.Version, orNone(version.Commit()), schema, runtime.Version())
			return nil
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func joinKnown() string { return strings.Join(fleet.Known(), ", ") }
