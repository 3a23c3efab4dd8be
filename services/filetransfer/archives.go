package filetransfer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
)

// Archive statuses (OpenTera's TeraArchiveStatus, ArchiveEvent.StatusType).
const (
	statusPending    = 0
	statusInProgress = 1
	statusCompleted  = 2
	statusCancelled  = 3
	statusDeleted    = 4
)

// archive is a t_archive_file_data row (ArchiveFileData.to_json()), with the progress of its
// job beside (beyond OpenTera).
type archive struct {
	ID               int32      `json:"id_archive_file_data"`
	UUID             string     `json:"archive_uuid"`
	OriginalFilename string     `json:"archive_original_filename"`
	FileSize         int64      `json:"archive_file_size"`
	Creation         time.Time  `json:"-"`
	Upload           *time.Time `json:"-"`
	Expiration       *time.Time `json:"-"`
	Status           int32      `json:"archive_status"`
	OwnerUUID        string     `json:"archive_owner_uuid"`
	UploaderUUID     *string    `json:"archive_uploader_uuid"`
	AssetsTotal      *int32     `json:"archive_assets_total,omitempty"`
	AssetsDone       *int32     `json:"archive_assets_done,omitempty"`
}

func (a archive) json() map[string]any {
	out := map[string]any{"id_archive_file_data": a.ID, "archive_uuid": a.UUID, "archive_original_filename": a.OriginalFilename,
		"archive_file_size": a.FileSize, "archive_creation_datetime": isoTime(&a.Creation), "archive_upload_datetime": isoTime(a.Upload),
		"archive_expiration_datetime": isoTime(a.Expiration), "archive_status": a.Status, "archive_owner_uuid": a.OwnerUUID,
		"archive_uploader_uuid": a.UploaderUUID}
	if a.AssetsTotal != nil {
		out["archive_assets_total"], out["archive_assets_done"] = *a.AssetsTotal, *a.AssetsDone
	}
	return out
}

const archiveColumns = `ar.id_archive_file_data, ar.archive_uuid, ar.archive_original_filename, ar.archive_file_size,
       ar.archive_creation_datetime, ar.archive_upload_datetime, ar.archive_expiration_datetime, ar.archive_status,
       ar.archive_owner_uuid, ar.archive_uploader_uuid, j.assets_total, j.assets_done`

const selectArchive = `SELECT ` + archiveColumns + `
  FROM filetransfer.t_archive_file_data ar
  LEFT JOIN filetransfer.archive_jobs j ON j.id_archive_file_data = ar.id_archive_file_data
 WHERE ar.archive_uuid = $1`

func scanArchive(row pgx.Row) (archive, error) {
	var a archive
	err := row.Scan(&a.ID, &a.UUID, &a.OriginalFilename, &a.FileSize, &a.Creation, &a.Upload, &a.Expiration, &a.Status,
		&a.OwnerUUID, &a.UploaderUUID, &a.AssetsTotal, &a.AssetsDone)
	return a, err
}

// archiveByUUID answers 400 without a uuid and 404 for an unknown one; ok is false then.
func (s *Service) archiveByUUID(w http.ResponseWriter, r *http.Request, param string) (archive, bool) {
	u := r.URL.Query().Get(param)
	if u == "" {
		server.WriteJSON(w, http.StatusBadRequest, "Missing "+param)
		return archive{}, false
	}
	a, err := scanArchive(s.o.DB.QueryRow(r.Context(), selectArchive, u))
	if errors.Is(err, pgx.ErrNoRows) {
		server.WriteJSON(w, http.StatusNotFound, "No archive found")
		return archive{}, false
	}
	if err != nil {
		s.internal(w, r, err)
		return archive{}, false
	}
	return a, true
}

// archiveInfos is GET /file/api/archives/infos?archive_uuid=: its owner (or a service) reads it.
func (s *Service) archiveInfos(w http.ResponseWriter, r *http.Request) {
	c, _ := caller(r)
	a, ok := s.archiveByUUID(w, r, "archive_uuid")
	if !ok {
		return
	}
	if c.Kind != authn.KindService && a.OwnerUUID != c.UUID {
		server.WriteJSON(w, http.StatusForbidden, "Access denied for that archive")
		return
	}
	server.WriteJSON(w, http.StatusOK, a.json())
}

// downloadArchive is GET /file/api/archives?archive_uuid=: the owner downloads the zip.
func (s *Service) downloadArchive(w http.ResponseWriter, r *http.Request) {
	c, _ := caller(r)
	a, ok := s.archiveByUUID(w, r, "archive_uuid")
	if !ok {
		return
	}
	if a.OwnerUUID != c.UUID {
		server.WriteJSON(w, http.StatusForbidden, "Access denied to the requested archive")
		return
	}
	if a.Status != statusCompleted {
		server.WriteJSON(w, http.StatusBadRequest, "Archive is not completed yet")
		return
	}
	s.o.Log.Info("archive downloaded", "archive_uuid", a.UUID, "by", c.UUID)
	s.serveBlob(w, r, a.UUID, a.OriginalFilename)
}

// deleteArchive is DELETE /file/api/archives?uuid=: its owner or uploader deletes it (a job
// still building it stops at its next lease renewal).
func (s *Service) deleteArchive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _ := caller(r)
	a, ok := s.archiveByUUID(w, r, "uuid")
	if !ok {
		return
	}
	tag, err := s.o.DB.Exec(ctx, `DELETE FROM filetransfer.t_archive_file_data
		WHERE id_archive_file_data = $1 AND (archive_owner_uuid = $2 OR archive_uploader_uuid = $2)`, a.ID, c.UUID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if tag.RowsAffected() == 0 {
		server.WriteJSON(w, http.StatusForbidden, "Access denied to the requested archive")
		return
	}
	if err := s.o.Blob.Delete(ctx, a.UUID); err != nil {
		s.o.Log.Warn("deleted archive's bytes not removed", "archive_uuid", a.UUID, "err", err)
	}
	s.publishArchive(a.UUID, a.OwnerUUID, statusDeleted)
	server.WriteJSON(w, http.StatusOK, "Archive deleted")
}

// The assets a user's archive request covers, with the names of their path: the sessions of
// one session, participant or project (its participants the user can see) that the user can
// open, their assets whose files this target stores. A session is listed once per participant
// (OpenTera's worker files it under each).
const selectArchiveEntries = `WITH sel AS (
  SELECT s.id_session, s.session_name, p.participant_name, pr.project_name, st.site_name
    FROM core.t_sessions s
    LEFT JOIN core.t_sessions_participants sp ON sp.id_session = s.id_session AND sp.deleted_at IS NULL
    LEFT JOIN core.t_participants p ON p.id_participant = sp.id_participant AND p.deleted_at IS NULL
    LEFT JOIN core.t_projects pr ON pr.id_project = p.id_project
    LEFT JOIN core.t_sites st ON st.id_site = pr.id_site
   WHERE s.deleted_at IS NULL
     AND CASE @by::text WHEN 'session' THEN s.id_session = @id
                        WHEN 'participant' THEN p.id_participant = @id
                        ELSE p.id_project = @id AND p.id_participant IN (SELECT x.id FROM core.acc_participants('user', @me::integer, false) x) END
     AND core.can_session('user', @me::integer, s.id_session))
SELECT a.asset_uuid, f.asset_original_filename, sel.id_session, sel.session_name, sel.participant_name, sel.project_name, sel.site_name
  FROM sel
  JOIN core.t_assets a ON a.id_session = sel.id_session AND a.deleted_at IS NULL
  JOIN filetransfer.t_asset_file_data f ON f.asset_uuid = a.asset_uuid
 ORDER BY sel.site_name NULLS FIRST, sel.project_name NULLS FIRST, sel.participant_name NULLS FIRST, sel.id_session, a.id_asset`

// entry is one file of an archive job.
type entry struct {
	AssetUUID string `json:"asset_uuid"`
	Path      string `json:"path"`
}

// segment makes a name one safe path segment of a zip entry.
func segment(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 {
			return '_'
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// entryPaths lays the selected assets out as `site/project/participant/<id>_<session>/file`,
// numbering a file name repeated in one folder.
func entryPaths(rows pgx.Rows) ([]entry, error) {
	out := []entry{} // none is an empty archive, still a JSON list for the job
	seen := map[string]int{}
	for rows.Next() {
		var uuid, file, session string
		var id int32
		var participant, project, site *string
		if err := rows.Scan(&uuid, &file, &id, &session, &participant, &project, &site); err != nil {
			return nil, err
		}
		var segs []string
		for _, p := range []*string{site, project, participant} {
			if p != nil {
				segs = append(segs, segment(*p))
			}
		}
		segs = append(segs, segment(fmt.Sprintf("%d_%s", id, session)))
		p := path.Join(append(segs, segment(file))...)
		if n := seen[p]; n > 0 {
			ext := path.Ext(p)
			seen[p] = n + 1
			p = fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(p, ext), n, ext)
		} else {
			seen[p] = 1
		}
		out = append(out, entry{AssetUUID: uuid, Path: p})
	}
	return out, rows.Err()
}

// requestArchive is GET /api/user/assets/archive?id_session=|id_participant=|id_project=
// (OpenTera's UserQueryAssetsArchive): the archive's record, pending, and its job, written in
// one transaction with the entries read under the user's access. The answer is the record; an
// ArchiveEvent tells the owner's websocket when it changes.
func (s *Service) requestArchive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, scope := caller(r)
	q := r.URL.Query()
	var by string
	var id int64
	given := 0
	for _, k := range []string{"id_participant", "id_project", "id_session"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			server.WriteJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{k: "invalid literal for int() with base 10: '" + v + "'"},
				"message": "Input payload validation failed"})
			return
		}
		given++
		by, id = strings.TrimPrefix(k, "id_"), n
	}
	if given != 1 {
		server.WriteJSON(w, http.StatusBadRequest, "Only one of the ID parameter is supported at once")
		return
	}
	me := scope.Caller().ID
	var visible bool
	var err error
	switch by {
	case "session":
		visible, err = canSession(ctx, s.o.DB, scope, int32(id))
	case "participant":
		err = s.o.DB.QueryRow(ctx, `SELECT $2::integer IN (SELECT x.id FROM core.acc_participants('user', $1::integer, false) x)`, me, id).Scan(&visible)
	case "project":
		err = s.o.DB.QueryRow(ctx, `SELECT $2::integer IN (SELECT x.id FROM core.acc_projects('user', $1::integer, false) x)`, me, id).Scan(&visible)
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !visible {
		server.WriteJSON(w, http.StatusForbidden, "Forbidden")
		return
	}
	tx, err := s.o.DB.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, selectArchiveEntries, pgx.NamedArgs{"by": by, "id": id, "me": me})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	entries, err := entryPaths(rows)
	rows.Close()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := time.Now().UTC()
	name := now.Format("2006-01-02_15-04-05") + "_archive.zip"
	a, err := scanArchive(tx.QueryRow(ctx, `WITH ar AS (
		INSERT INTO filetransfer.t_archive_file_data (archive_original_filename, archive_owner_uuid, archive_creation_datetime, archive_expiration_datetime)
		VALUES ($1, $2, $3, $4) RETURNING *), j AS (
		INSERT INTO filetransfer.archive_jobs (id_archive_file_data, entries, assets_total) SELECT id_archive_file_data, $5::jsonb, $6::integer FROM ar
		RETURNING *)
		SELECT `+archiveColumns+` FROM ar, j`, name, c.UUID, now, now.Add(s.o.ArchiveLifetime), entries, len(entries)))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		s.internal(w, r, err)
		return
	}
	s.publishArchive(a.UUID, a.OwnerUUID, statusPending)
	s.kick()
	server.WriteJSON(w, http.StatusOK, a.json())
}

// EventsSubject carries the target's ArchiveEvents (OpenTera's service.FileTransferService.events).
const EventsSubject = "tera.service." + ServiceKey + ".events"

// publishArchive tells the owner's websocket of an archive's status (best effort, as OpenTera's
// Redis publish: the status is also in the archive's record).
func (s *Service) publishArchive(archiveUUID, owner string, status int32) {
	if s.o.NATS == nil {
		return
	}
	ev := &eventsv1.ArchiveEvent{ArchiveUuid: archiveUUID, OwnerUuid: owner, Status: eventsv1.ArchiveEvent_StatusType(status)}
	if status == statusCompleted {
		ev.ArchiveUrl = s.o.PublicURL + "/file/api/archives?archive_uuid=" + archiveUUID
	}
	any, err := anypb.New(ev)
	if err != nil {
		s.o.Log.Warn("archive event not built", "err", err)
		return
	}
	msg := &eventsv1.TeraEvent{Header: &eventsv1.TeraEvent_Header{Version: 1, Topic: "service." + ServiceKey + ".events",
		Time: float64(time.Now().UnixMicro()) / 1e6}, Events: []*anypb.Any{any}}
	b, err := proto.Marshal(msg)
	if err == nil {
		err = s.o.NATS.Publish(EventsSubject, b)
	}
	if err != nil {
		s.o.Log.Warn("archive event not published", "archive_uuid", archiveUUID, "err", err)
	}
}
