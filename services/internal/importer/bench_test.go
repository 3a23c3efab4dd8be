package importer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/testenv"
)

// BenchmarkImportScale imports the real dump grown by N synthetic participants (env
// TERA_IMPORT_PARTICIPANTS, default 1000) with 10 sessions each, each session linked to its
// participant, generated in OpenTera's own schema. The goal: 100,000 participants and
// 1,000,000 sessions in under 5 minutes, with the importer's memory flat in the row count
// (rows stream through COPY; the checksums are sums computed in PostgreSQL). With
// TERA_IMPORT_MERGE=1 the target holds rows of its own in the tables the synthetic rows grow
// (a site, project, participant, session type, session and its link, at ids far above), and
// the import is a merge: every key of those tables staged and checked, the copy into tables
// with their keys and indexes.
//
//	TERA_IMPORT_PARTICIPANTS=100000 go test -run '^$' -bench ImportScale -benchtime 1x ./services/internal/importer/
func BenchmarkImportScale(b *testing.B) {
	n := 1000
	if v := os.Getenv("TERA_IMPORT_PARTICIPANTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("TERA_IMPORT_PARTICIPANTS=%q: want a positive count", v)
		}
	}
	ctx := context.Background()
	src := LoadDump(b)
	for _, q := range []string{
		`INSERT INTO public.t_participants (version_id, id_participant, participant_uuid, participant_name, participant_token_enabled,
		   participant_enabled, participant_login_enabled, id_project)
		 SELECT 1, 1000 + i, gen_random_uuid()::text, 'Synthetic ' || i, false, true, false, 1 + i % 2 FROM generate_series(1, $1) i`,
		`INSERT INTO public.t_sessions (version_id, id_session, session_uuid, id_session_type, id_creator_participant, session_name,
		   session_start_datetime, session_duration, session_status)
		 SELECT 1, 1000 + i, gen_random_uuid()::text, 1 + i % 3, 1000 + 1 + (i - 1) / 10, 'Session ' || i,
		   timestamptz '2024-01-01' + i * interval '1 minute', 60, 2 FROM generate_series(1, $1 * 10) i`,
		`INSERT INTO public.t_sessions_participants (version_id, id_session_participant, id_session, id_participant)
		 SELECT 1, 1000 + i, 1000 + i, 1000 + 1 + (i - 1) / 10 FROM generate_series(1, $1 * 10) i`,
		`ANALYZE`,
	} {
		var err error
		if q == "ANALYZE" {
			_, err = src.Exec(ctx, q)
		} else {
			_, err = src.Exec(ctx, q, n)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := connectTarget(b, testenv.DatabaseURL(b))
		merge := os.Getenv("TERA_IMPORT_MERGE") == "1"
		if merge {
			if _, err := dst.Exec(ctx, `
INSERT INTO core.t_sites (id_site, site_name) VALUES (50000000, 'Tera site');
INSERT INTO core.t_projects (id_project, id_site, project_name) VALUES (50000000, 50000000, 'Tera project');
INSERT INTO core.t_participants (id_participant, participant_uuid, participant_name, id_project) VALUES (50000000, gen_random_uuid()::text, 'Tera participant', 50000000);
INSERT INTO core.t_sessions_types (id_session_type, session_type_name, session_type_online, session_type_color, session_type_category) VALUES (50000000, 'Tera type', false, '#000000', 1);
INSERT INTO core.t_sessions (id_session, session_uuid, id_session_type, id_creator_participant, session_name) VALUES (50000000, gen_random_uuid()::text, 50000000, 50000000, 'Tera session');
INSERT INTO core.t_sessions_participants (id_session_participant, id_session, id_participant) VALUES (50000000, 50000000, 50000000)`); err != nil {
				b.Fatal(err)
			}
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		start := time.Now()
		// The per-table lines and phase times on stderr, plain (one line a minute while a table
		// copies).
		rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, Merge: merge, Progress: os.Stderr, ProgressEvery: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		var rows int64
		for _, t := range rep.Tables {
			rows += t.TargetRows
		}
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(rows), "B-alloc/row")
		b.ReportMetric(float64(after.Sys)/(1<<20), "MiB-sys")
		b.Logf("merge %v: %d participants, %d rows in %s; Go heap sys %d MiB, process peak RSS %s", merge, n, rows, elapsed.Round(time.Millisecond), after.Sys>>20, peakRSS())
		for _, ph := range rep.Phases {
			b.Logf("  %-90s %s", ph.Name, ph.Elapsed.Round(time.Millisecond))
		}
		dst.Close()
		b.StartTimer()
	}
}

// BenchmarkImportFiles imports a files database of TERA_IMPORT_FILES rows (default 20) whose
// files of TERA_IMPORT_FILE_MB MiB each (default 5) lie in a files directory, into a directory
// blob store, then runs again over the copied store (the resume path: every file hashed on both
// sides, none copied). Memory must not follow the file sizes: files stream through 32 KiB
// buffers and are hashed as they pass.
//
//	TERA_IMPORT_FILES=100 TERA_IMPORT_FILE_MB=50 go test -run '^$' -bench ImportFiles -benchtime 1x ./services/internal/importer/
func BenchmarkImportFiles(b *testing.B) {
	env := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive count", name, v)
		}
		return n
	}
	files, mib := env("TERA_IMPORT_FILES", 20), env("TERA_IMPORT_FILE_MB", 5)
	ctx := context.Background()
	src := LoadDumpFile(b, "openterafiles.sql")
	dir := b.TempDir()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for i := range files {
		uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		f, err := os.Create(filepath.Join(dir, uuid))
		if err != nil {
			b.Fatal(err)
		}
		for range mib {
			_, _ = rng.Read(buf)
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := src.Exec(ctx, `INSERT INTO public.t_asset_file_data VALUES (1, $1, $2, $3, $4)`, i+1, uuid, uuid+".bin", int64(mib)<<20); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := blob.OpenDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, pass := range []string{"copy", "resume"} {
			dst := connectTarget(b, testenv.DatabaseURL(b))
			start := time.Now()
			rep, err := importer.Run(ctx, importer.Options{Sources: []importer.Source{{DB: importer.Files, Pool: src}}, Target: dst, FilesDir: dir, Blob: store})
			if err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.Logf("%s: %d files, %d MiB (%d copied, %d present) in %s = %.0f MiB/s; Go heap sys %d MiB, process peak RSS %s",
				pass, rep.Files.Files, rep.Files.Bytes>>20, rep.Files.Copied, rep.Files.Present, elapsed.Round(time.Millisecond),
				float64(rep.Files.Bytes)/(1<<20)/elapsed.Seconds(), ms.Sys>>20, peakRSS())
			dst.Close()
		}
	}
}

// peakRSS is the process's resident high-water mark (VmHWM), as the kernel reports it.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
