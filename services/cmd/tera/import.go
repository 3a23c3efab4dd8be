package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/migrations"
)

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import an existing site's database (OpenTera)",
	}
	cmd.AddCommand(newImportOpenTeraCmd())
	return cmd
}

func newImportOpenTeraCmd() *cobra.Command {
	var flags configFlags
	var from, logsFrom, emailsFrom, filesFrom, filesDir string
	var dryRun, merge bool
	cmd := &cobra.Command{
		Use:   "opentera --from <core URL> [--logs-from <URL>] [--emails-from <URL>] [--files-from <URL> --files-dir <dir>] --database-url <Tera URL> [--merge] [--dry-run]",
		Short: "Copy an OpenTera site into Tera, keeping every id, uuid, password hash, token and file",
		Long: `Copy an OpenTera core database (TeraServer's PostgreSQL) and, if given, its LoggingService,
EmailService and FileTransferService databases into Tera's, all in one transaction, and the
FileTransferService files directory (one file per asset, named by its uuid) into Tera's blob
store (filetransfer.blob in tera.yaml, or TERA_BLOB_DIR / TERA_BLOB_BACKEND=s3 and TERA_BLOB_S3_*).
Every id, uuid, bcrypt hash, TOTP secret, static token, deleted_at and version_id is kept, so
users and participants log in with their passwords, static tokens in the field keep working and
clients' cached ids stay valid; every identity is advanced past the imported ids (and past
OpenTera's own sequences). Imported rows emit no events and create no automatic roles or links.

Refused, with nothing written: an OpenTera schema version this importer does not know (see
alembic_version), a Tera database with any row in the imported tables (import into a database
that only 'tera migrate' touched: not 'tera seed'; or see --merge), source rows Tera's
constraints reject (listed by --dry-run), and any difference the verify step finds between
source and target (per-table counts and a checksum of the key columns, compared before commit).
With --files-dir, a row whose file is missing or of another size is refused before any file is
copied; each file is streamed to the blob store, read back and compared by sha256 before the
commit. A re-run skips the files already in the store with the same size and sha256: an
interrupted import resumes. Progress goes to stderr: a bar per table and for the files on a
terminal, a line every 10 s otherwise.

--merge imports into tables that already hold rows, keeping both sets as they are (nothing is
renumbered), only if no imported row collides with a row already there, live or soft-deleted,
on its id or on any of Tera's unique keys (uuids, usernames, participant and device tokens,
server setting, service and device type keys, link tuples), and no imported file takes an
archive's blob key; otherwise it refuses, listing each collision (table, imported row, key,
value, the row holding it), and writes nothing. Two sites' server settings (their token signing
keys, under the same names) collide: a site holds one set. Sequences end above both sets' ids
and never move back. The tables keep their keys during a merge (slower than the bulk copy into
empty tables), so the site keeps answering reads; its writes wait for the commit.

--dry-run does everything, prints the same report and the rows it would refuse (with --merge,
the collisions), and rolls back (it checks the files, and copies none; it moves no sequence).
The importer must own Tera's tables (it is the migrating role): it disables their triggers inside
its transaction. Freeze writes on the OpenTera site first; the source is read in one snapshot.`,
		Example: `  tera import opentera --from postgres://opentera@old-host/opentera --database-url postgres://tera@db/tera --dry-run
  tera import opentera --from postgres://opentera@old-host/opentera --database-url postgres://tera@db/tera
  tera import opentera --from postgres://opentera@old-host/opentera --database-url postgres://tera@db/tera --merge --dry-run
  TERA_BLOB_DIR=/var/lib/tera/files tera import opentera --from postgres://opentera@old-host/opentera \
    --files-from postgres://opentera@old-host/openterafiles --files-dir /opentera/files --database-url postgres://tera@db/tera`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" && logsFrom == "" && emailsFrom == "" && filesFrom == "" {
				return errors.New("--from is required: the URL of the OpenTera core database (or --logs-from, --emails-from, --files-from)")
			}
			if (filesFrom == "") != (filesDir == "") {
				return errors.New("--files-from and --files-dir go together: the FileTransferService database names the files, its files directory holds them")
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			if err := cfg.Validate(true, false); err != nil {
				return err
			}
			log := logger(cfg, "import")
			ctx := cmd.Context()
			var sources []importer.Source
			for _, s := range []struct {
				flag, url string
				db        importer.Database
			}{{"--from", from, importer.Core}, {"--logs-from", logsFrom, importer.Logs}, {"--emails-from", emailsFrom, importer.Emails}, {"--files-from", filesFrom, importer.Files}} {
				if s.url == "" {
					continue
				}
				pool, err := pgxpool.New(ctx, s.url)
				if err != nil {
					// pgx errors may echo the URL and its password.
					return fmt.Errorf("%s: cannot parse the PostgreSQL URL", s.flag)
				}
				defer pool.Close()
				sources = append(sources, importer.Source{DB: s.db, Pool: pool})
			}
			var store blob.Store
			if filesDir != "" {
				if store, err = blob.Open(ctx, cfg.FileTransfer.Blob); err != nil {
					return fmt.Errorf("the blob store to copy the files to (filetransfer.blob): %w", err)
				}
			}
			dst, err := fleet.OpenDB(ctx, cfg.Database)
			if err != nil {
				return err
			}
			defer dst.Close()
			if err := migrations.Apply(ctx, dst, log); err != nil {
				return err
			}
			progress := cmd.ErrOrStderr()
			f, ok := progress.(*os.File)
			bars := ok && term.IsTerminal(int(f.Fd()))
			rep, err := importer.Run(ctx, importer.Options{Sources: sources, Target: dst, DryRun: dryRun, Merge: merge, FilesDir: filesDir, Blob: store,
				Progress: progress, ProgressBars: bars})
			rep.Write(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			return nil
		},
	}
	flags.register(cmd, false)
	cmd.Flags().StringVar(&from, "from", "", "URL of the OpenTera core database (TeraServer's PostgreSQL)")
	cmd.Flags().StringVar(&logsFrom, "logs-from", "", "URL of the OpenTera LoggingService database (optional)")
	cmd.Flags().StringVar(&emailsFrom, "emails-from", "", "URL of the OpenTera EmailService database (optional)")
	cmd.Flags().StringVar(&filesFrom, "files-from", "", "URL of the OpenTera FileTransferService database (optional; with --files-dir)")
	cmd.Flags().StringVar(&filesDir, "files-dir", "", "FileTransferService's files directory, copied to the blob store (with --files-from)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report counts and refused rows, then roll back")
	cmd.Flags().BoolVar(&merge, "merge", false, "import into tables that already hold rows, if no imported id, uuid or unique key collides with theirs")
	return cmd
}
