package importer

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Write prints the report: per-table counts and checksums, dropped columns, refused rows.
func (r *Report) Write(w io.Writer) {
	for _, v := range r.Versions {
		fmt.Fprintf(w, "source %s\n", v)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tsource rows\ttarget rows\tchecksum\t")
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
		fmt.Fprintf(tw, "%s.%s\t%d\t%d\t%s\t\n", t.Database, t.Table, t.SourceRows, t.TargetRows, state)
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
	for _, f := range r.Refusals {
		fmt.Fprintf(w, "refused: %s.%s row %s: %s\n", f.Database, f.Table, f.Row, f.Reason)
	}
	switch {
	case r.Committed:
		fmt.Fprintf(w, "imported and verified in %s\n", r.Elapsed.Round(1e6))
	case len(r.Refusals) > 0:
		fmt.Fprintf(w, "%d rows would be refused; nothing written\n", len(r.Refusals))
	case r.DryRun && len(r.Tables) > 0 && len(r.Mismatches()) == 0:
		fmt.Fprintf(w, "dry run: imported and verified in %s, then rolled back; nothing written\n", r.Elapsed.Round(1e6))
	default:
		fmt.Fprintf(w, "nothing written\n")
	}
}
