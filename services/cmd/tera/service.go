package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/devmode"
)

// `tera service` helps the developer of an external service: a service token without the
// client credentials round trip, and a fresh client secret for its declaration.
func newServiceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Development helpers for external services: mint a service token, generate a client secret",
		Long: `An external service is a t_services row; in a cluster it obtains its token from login with the
client secret of the Kubernetes Secret the operator creates for it (POST /api/service/token,
OAuth2 client credentials). These commands shortcut that for development; see README
"Writing an external service".`,
	}
	cmd.AddCommand(newServiceTokenCmd(), newServiceSecretCmd())
	return cmd
}

func newServiceTokenCmd() *cobra.Command {
	var flags configFlags
	var key, uuid, keysDir string
	var lifetime time.Duration
	cmd := &cobra.Command{
		Use:   "token (--key=<service_key> | --uuid=<service_uuid>)",
		Short: "Print a service token signed with the site's signing keys",
		Long: `Print a service token, signed with the signing keys of --signing-keys-dir (default: the
configuration's auth.signing_keys_dir, else the keys of tera dev's data directory). With --key
the service is looked up in the database (it must exist, live and enabled); with --uuid the
database is not read. The token is refused like any other once its service is disabled.`,
		Example: `  tera service token --key=Questionnaire --database-url=postgres://...
  tera service token --uuid=7c4f... --lifetime=15m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (key == "") == (uuid == "") {
				return errors.New("give exactly one of --key and --uuid")
			}
			if lifetime <= 0 || lifetime > authn.ServiceTokenLifetime {
				return fmt.Errorf("--lifetime must be positive and at most %v", authn.ServiceTokenLifetime)
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("signing-keys-dir") {
				keysDir = cfg.Auth.SigningKeysDir
			}
			if keysDir == "" {
				keysDir = filepath.Join(devmode.DefaultDataDir(), "keys")
			}
			keys, err := authn.LoadKeySet(keysDir)
			if err != nil {
				return err
			}
			if key != "" {
				pool, _, err := adminDB(cmd, &flags)
				if err != nil {
					return err
				}
				defer pool.Close()
				var enabled bool
				err = pool.QueryRow(cmd.Context(), `SELECT service_uuid, service_enabled FROM core.t_services
					WHERE service_key = $1 AND deleted_at IS NULL`, key).Scan(&uuid, &enabled)
				if errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("no service with key %q", key)
				}
				if err != nil {
					return fmt.Errorf("look up service %q: %w", key, err)
				}
				if !enabled {
					return fmt.Errorf("service %q is disabled: its tokens would be refused", key)
				}
			}
			tok, err := (&authn.Signer{Keys: keys}).Sign(authn.Claims{ServiceUUID: uuid}, lifetime)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	flags.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&key, "key", "", "service_key of the service (looked up in the database)")
	fl.StringVar(&uuid, "uuid", "", "service_uuid of the service (no database needed)")
	fl.StringVar(&keysDir, "signing-keys-dir", "", "directory of signing-key-*.pem (env TERA_SIGNING_KEYS_DIR through the configuration)")
	fl.DurationVar(&lifetime, "lifetime", authn.ServiceClientTokenLifetime, "token lifetime")
	return cmd
}

func newServiceSecretCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "secret",
		Short: "Print a fresh client secret (256 random bits, hex) for an external service's client_secret_file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), authn.RandomHex(32))
			return err
		},
	}
}
