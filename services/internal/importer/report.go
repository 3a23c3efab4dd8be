package importer

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
)

// Write prints the report: per-table counts and checksums, dropped columns, refused rows.
func (r *Report) Write(w io.Writer) {
	for _, v := range r.Versions {
		fmt.Fprintf(w, "source %s\n", v)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if r.Merge {
		// Target rows are the imported ones found there, beside the rows it already held.
		fmt.Fprintln(tw, "table\talready there\tsource rows\ttarget rows\tchecksum\t")
	} else {
		fmt.Fprintln(tw, "table\tsource rows\ttarget rows\tchecksum\t")
	}
	for _, t := range r.Tables {
		state := "-"
		switch {
		case t.TargetChecksum == "" && t.SourceChecksum == "":
		case t.TargetChecksum == "":
			state = "not copied"
		case t.Match():
			state = "match"
		default:
			state = "DIFFERS"
		}
		if r.Merge {
			fmt.Fprintf(tw, "%s.%s\t%d\t%d\t%d\t%s\t\n", t.Database, t.Table, t.Existing, t.SourceRows, t.TargetRows, state)
		} else {
			fmt.Fprintf(tw, "%s.%s\t%d\t%d\t%s\t\n", t.Database, t.Table, t.SourceRows, t.TargetRows, state)
		}
	}
	_ = tw.Flush()
	for _, t := range r.Tables {
		if len(t.Dropped) > 0 {
			fmt.Fprintf(w, "%s.%s: OpenTera columns with no place in Tera, not copied: %s\n", t.Database, t.Table, strings.Join(t.Dropped, ", "))
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "OpenTera tables not imported: %s\n", strings.Join(r.Skipped, ", "))
	}
	if f := r.Files; f != nil {
		fmt.Fprintf(w, "files: %d in the files directory %s (%s)", f.Files, f.Dir, humanize.IBytes(uint64(f.Bytes)))
		switch {
		case f.Copied+f.Present > 0 || (r.Committed && f.Files == 0):
			fmt.Fprintf(w, ": %d copied to the blob store and verified by size and sha256 (%s), %d already there (%s)\n",
				f.Copied, humanize.IBytes(uint64(f.CopiedBytes)), f.Present, humanize.IBytes(uint64(f.PresentBytes)))
		case r.DryRun:
			fmt.Fprintf(w, " with the sizes their rows record: not copied (dry run)\n")
		default:
			fmt.Fprintf(w, ": not copied\n")
		}
		if f.Unreferenced == 1 {
			fmt.Fprintf(w, "1 file in the directory belongs to no asset (an archive, a leftover): not imported\n")
		} else if f.Unreferenced > 1 {
			fmt.Fprintf(w, "%d files in the directory belong to no asset (archives, leftovers): not imported\n", f.Unreferenced)
		}
	}
	if len(r.Phases) > 0 {
		fmt.Fprintln(w, "time per phase:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, ph := range r.Phases {
			fmt.Fprintf(tw, "  %s\t%s\t\n", ph.Name, ph.Elapsed.Round(time.Millisecond))
		}
		_ = tw.Flush()
	}
	for _, f := range r.Refusals {
		fmt.Fprintf(w, "refused: %s.%s row %s: %s\n", f.Database, f.Table, f.Row, f.Reason)
	}
	for _, c := range r.Collisions {
		fmt.Fprintf(w, "collides: %s\n", c.describe())
		if c.More > 0 {
			fmt.Fprintf(w, "collides: and %d more rows of %s.%s on %s (%s)\n", c.More, c.Database, c.Table, c.Column, c.Key)
		}
	}
	switch {
	case r.Committed:
		fmt.Fprintf(w, "imported and verified in %s\n", r.Elapsed.Round(1e6))
	case len(r.Refusals) > 0 && len(r.Collisions) > 0:
		fmt.Fprintf(w, "%d rows would be refused and %d collide with rows already in the Tera database; nothing written\n", len(r.Refusals), r.CollisionCount())
	case len(r.Collisions) > 0:
		fmt.Fprintf(w, "%d imported rows collide with rows already in the Tera database; nothing written\n", r.CollisionCount())
	case len(r.Refusals) > 0:
		fmt.Fprintf(w, "%d rows would be refused; nothing written\n", len(r.Refusals))
	case r.DryRun && len(r.Tables) > 0 && len(r.Mismatches()) == 0:
		fmt.Fprintf(w, "dry run: imported and verified in %s, then rolled back; nothing written\n", r.Elapsed.Round(1e6))
	default:
		fmt.Fprintf(w, "nothing written\n")
	}
}
