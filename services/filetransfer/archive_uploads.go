package filetransfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/access"
)

// POST /file/api/archives/infos and POST /file/api/archives: archives made outside this target
// (OpenTera's AssetsArchiveWorker creates the record, sets it in progress, then uploads the
// zip). Stricter than OpenTera, which lets any token create an archive for any owner, change
// any archive's status and upload into any archive not yet completed:
//   - a caller creates, updates and uploads only archives it owns (or uploaded, for updates and
//     uploads, as OpenTera's DELETE); a service also those of the users, participants and
//     devices it can read (OpenTera's worker acts with the service's token for a user);
//   - an archive built by this target's own job is not changed from outside (409);
//   - static participant tokens are refused on these routes as on every /file route.

// actsForOwner is true when the caller (@kind, @me, @me_uuid) may act on an archive of the
// owner named by the SQL expression: it is the owner, or a service that can read the owner.
func actsForOwner(owner string) string {
	return `(` + owner + ` = @me_uuid::text OR (@kind::text = 'service' AND (
	     ` + owner + ` IN (SELECT u.user_uuid FROM core.t_users u
	                 WHERE u.id_user IN (SELECT x.id FROM core.acc_users('service', @me::integer, false, false) x))
	  OR ` + owner + ` IN (SELECT p.participant_uuid FROM core.t_participants p
	                 WHERE p.id_participant IN (SELECT x.id FROM core.acc_participants('service', @me::integer, false) x))
	  OR ` + owner + ` IN (SELECT d.device_uuid FROM core.t_devices d
	                 WHERE d.id_device IN (SELECT x.id FROM core.acc_devices('service', @me::integer, false) x)))))`
}

func callerArgs(c *authn.Caller, scope access.Scope) pgx.NamedArgs {
	return pgx.NamedArgs{"kind": string(scope.Caller().Kind), "me": scope.Caller().ID, "me_uuid": c.UUID}
}

// decodeJSONBody reads a JSON request body; ok is false once answered (413 or 400).
func decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			server.WriteTooLarge(w, tooLarge.Limit)
			return false
		}
		server.WriteJSON(w, http.StatusBadRequest, "Badly formatted request")
		return false
	}
	return true
}

// postArchiveInfos is POST /file/api/archives/infos {archive: {id_archive_file_data,
// archive_original_filename, archive_owner_uuid, archive_status?}}: id 0 creates a pending
// archive (its name made safe, kept 7 days as OpenTera's), another id sets that archive's
// status (the only change OpenTera allows). The answer is the archive's record; an
// ArchiveEvent tells its owner.
func (s *Service) postArchiveInfos(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, scope := caller(r)
	var body map[string]json.RawMessage
	if !decodeJSONBody(w, r, &body) {
		return
	}
	var info map[string]json.RawMessage
	if raw, ok := body["archive"]; !ok || json.Unmarshal(raw, &info) != nil || info == nil {
		server.WriteJSON(w, http.StatusBadRequest, "Badly formatted request")
		return
	}
	if _, ok := info["id_archive_file_data"]; !ok {
		server.WriteJSON(w, http.StatusBadRequest, "Badly formatted request")
		return
	}
	if _, ok := info["archive_original_filename"]; !ok {
		server.WriteJSON(w, http.StatusBadRequest, "Missing original filename")
		return
	}
	if _, ok := info["archive_owner_uuid"]; !ok {
		server.WriteJSON(w, http.StatusBadRequest, "Missing owner UUID")
		return
	}
	var id int32
	if json.Unmarshal(info["id_archive_file_data"], &id) != nil || id < 0 {
		server.WriteJSON(w, http.StatusBadRequest, "Error parsing archive information")
		return
	}
	args := callerArgs(c, scope)
	if id == 0 {
		var name, owner string
		if json.Unmarshal(info["archive_original_filename"], &name) != nil || json.Unmarshal(info["archive_owner_uuid"], &owner) != nil {
			server.WriteJSON(w, http.StatusBadRequest, "Error parsing archive information")
			return
		}
		if name = secureFilename(name); name == "" {
			server.WriteJSON(w, http.StatusBadRequest, "Error parsing archive information")
			return
		}
		if u, err := uuid.Parse(owner); err != nil || u.String() != strings.ToLower(owner) {
			server.WriteJSON(w, http.StatusBadRequest, "Error parsing archive information")
			return
		}
		now := time.Now().UTC()
		args["name"], args["owner"], args["now"], args["expires"] = name, owner, now, now.Add(7*24*time.Hour)
		a, err := scanArchive(s.o.DB.QueryRow(ctx, `WITH ar AS (
			INSERT INTO filetransfer.t_archive_file_data (archive_original_filename, archive_owner_uuid, archive_creation_datetime, archive_expiration_datetime)
			SELECT @name::text, @owner::text, @now::timestamptz, @expires::timestamptz WHERE `+actsForOwner("@owner::text")+`
			RETURNING *)
			SELECT `+archiveColumns+` FROM ar LEFT JOIN filetransfer.archive_jobs j ON j.id_archive_file_data = ar.id_archive_file_data`, args))
		if errors.Is(err, pgx.ErrNoRows) {
			server.WriteJSON(w, http.StatusForbidden, "Access denied to the requested archive")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		s.publishArchive(a.UUID, a.OwnerUUID, a.Status)
		server.WriteJSON(w, http.StatusOK, a.json())
		return
	}
	cur, err := s.archiveForCaller(ctx, s.o.DB, args, id, false)
	if errors.Is(err, pgx.ErrNoRows) {
		server.WriteJSON(w, http.StatusNotFound, "No archive found")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	raw, ok := info["archive_status"]
	if !ok {
		server.WriteJSON(w, http.StatusBadRequest, "Missing archive status")
		return
	}
	var status int32
	if json.Unmarshal(raw, &status) != nil || status < statusPending || status > statusDeleted {
		server.WriteJSON(w, http.StatusBadRequest, "Error parsing archive information")
		return
	}
	if !cur.allowed {
		server.WriteJSON(w, http.StatusForbidden, "Access denied to the requested archive")
		return
	}
	if cur.builtHere {
		server.WriteJSON(w, http.StatusConflict, "Archive is built by the file transfer service")
		return
	}
	// The access is checked again in the write itself.
	args["id"], args["status"] = id, status
	a, err := scanArchive(s.o.DB.QueryRow(ctx, `WITH ar AS (
		UPDATE filetransfer.t_archive_file_data ar SET archive_status = @status
		 WHERE ar.id_archive_file_data = @id
		   AND NOT EXISTS (SELECT 1 FROM filetransfer.archive_jobs x WHERE x.id_archive_file_data = ar.id_archive_file_data)
		   AND (ar.archive_uploader_uuid = @me_uuid::text OR `+actsForOwner("ar.archive_owner_uuid")+`)
		RETURNING ar.*)
		SELECT `+archiveColumns+` FROM ar LEFT JOIN filetransfer.archive_jobs j ON j.id_archive_file_data = ar.id_archive_file_data`, args))
	if errors.Is(err, pgx.ErrNoRows) {
		// Deleted or built here since the read above.
		server.WriteJSON(w, http.StatusConflict, "Archive changed meanwhile")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.publishArchive(a.UUID, a.OwnerUUID, a.Status)
	server.WriteJSON(w, http.StatusOK, a.json())
}

// callerArchive is an archive with what the caller may do with it.
type callerArchive struct {
	archive
	allowed   bool // owner or uploader, or a service acting for the owner
	builtHere bool // made by this target's archive job
}

func (s *Service) archiveForCaller(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, args pgx.NamedArgs, id int32, forUpdate bool) (callerArchive, error) {
	q := `SELECT ` + archiveColumns + `, j.id_archive_file_data IS NOT NULL,
	             (ar.archive_uploader_uuid = @me_uuid::text OR ` + actsForOwner("ar.archive_owner_uuid") + `) IS TRUE
	        FROM filetransfer.t_archive_file_data ar
	        LEFT JOIN filetransfer.archive_jobs j ON j.id_archive_file_data = ar.id_archive_file_data
	       WHERE ar.id_archive_file_data = @id`
	if forUpdate {
		q += ` FOR UPDATE OF ar`
	}
	a := pgx.NamedArgs{"id": id}
	for k, v := range args {
		if k != "id" {
			a[k] = v
		}
	}
	var ca callerArchive
	x := &ca.archive
	err := db.QueryRow(ctx, q, a).Scan(&x.ID, &x.UUID, &x.OriginalFilename, &x.FileSize, &x.Creation, &x.Upload, &x.Expiration, &x.Status,
		&x.OwnerUUID, &x.UploaderUUID, &x.AssetsTotal, &x.AssetsDone, &ca.builtHere, &ca.allowed)
	return ca, err
}

// uploadTarget reads the archive part of an upload and checks that the archive exists, that
// the caller may upload it and that it is not built here (beyond OpenTera), then, as OpenTera,
// that it still waits for its file.
func (s *Service) uploadTarget(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, args pgx.NamedArgs, raw []byte, forUpdate bool) (callerArchive, error) {
	var info map[string]json.RawMessage
	if err := json.Unmarshal(raw, &info); err != nil || info == nil {
		msg := "not a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return callerArchive{}, refuse(http.StatusBadRequest, "Error parsing archive information : "+msg)
	}
	rawID, ok := info["id_archive_file_data"]
	if !ok {
		return callerArchive{}, refuse(http.StatusBadRequest, "Missing archive ID")
	}
	var id int32
	if err := json.Unmarshal(rawID, &id); err != nil {
		return callerArchive{}, refuse(http.StatusBadRequest, "Error parsing archive information : id_archive_file_data is not an integer")
	}
	a, err := s.archiveForCaller(ctx, db, args, id, forUpdate)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return a, refuse(http.StatusNotFound, "No archive found")
	case err != nil:
		return a, err
	case !a.allowed:
		return a, refuse(http.StatusForbidden, "Access denied to the requested archive")
	case a.builtHere:
		return a, refuse(http.StatusConflict, "Archive is built by the file transfer service")
	case a.Status == statusCompleted:
		return a, refuse(http.StatusNotFound, "Archive has already been uploaded.")
	}
	return a, nil
}

// uploadArchive is POST /file/api/archives, multipart: `archive` (JSON with
// id_archive_file_data) and `file`, named as the archive. The file streams to the store under
// a key of its own; once it is whole, the archive's row is locked, checked again, the bytes
// moved under the archive's uuid and the archive completed, in one transaction: two uploads of
// one archive cannot mix their bytes and their record. With the archive part first (as
// OpenTera's worker sends it) every check runs before a byte is stored.
func (s *Service) uploadArchive(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, scope := caller(r)
	args := callerArgs(c, scope)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		server.WriteJSON(w, http.StatusBadRequest, "Wrong content type")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		server.WriteJSON(w, http.StatusBadRequest, "Invalid multipart body: "+err.Error())
		return
	}
	staged := uuid.NewString()
	var rawInfo []byte
	var target *callerArchive
	var filename string
	var size int64
	stored, moved := false, false
	defer func() {
		if stored && !moved {
			if err := s.o.Blob.Delete(context.WithoutCancel(ctx), staged); err != nil {
				s.o.Log.Warn("refused archive upload's bytes not deleted", "key", staged, "err", err)
			}
		}
	}()
	fail := func(err error) { s.uploadFailed(w, r, err) }
	for {
		part, err := nextPart(mr)
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
			return
		}
		switch part.FormName() {
		case "archive":
			if rawInfo != nil {
				server.WriteJSON(w, http.StatusBadRequest, "Only one archive part")
				return
			}
			if rawInfo, err = io.ReadAll(io.LimitReader(part, 1<<20)); err != nil {
				fail(err)
				return
			}
			if !stored {
				t, err := s.uploadTarget(ctx, s.o.DB, args, rawInfo, false)
				if err != nil {
					fail(err)
					return
				}
				target = &t
			}
		case "file":
			if stored {
				server.WriteJSON(w, http.StatusBadRequest, "Only one file per archive")
				return
			}
			if filename = part.FileName(); filename == "" {
				server.WriteJSON(w, http.StatusBadRequest, "Missing filename")
				return
			}
			if target != nil && target.OriginalFilename != filename {
				server.WriteJSON(w, http.StatusBadRequest, "Filename does not match the archive information")
				return
			}
			stored = true
			n, ok := s.putPart(ctx, w, r, staged, part)
			if !ok {
				return
			}
			size = n
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				server.WriteJSON(w, http.StatusBadRequest, "Invalid multipart body: "+err.Error())
				return
			}
		}
	}
	switch {
	case rawInfo == nil:
		server.WriteJSON(w, http.StatusBadRequest, "Missing archive information")
		return
	case !stored:
		server.WriteJSON(w, http.StatusBadRequest, "Missing uploaded file")
		return
	}
	a, err := s.completeArchive(ctx, args, c.UUID, rawInfo, filename, staged, size, &moved)
	if err != nil {
		fail(err)
		return
	}
	s.o.Log.Info("archive uploaded", "archive_uuid", a.UUID, "by", c.UUID, "bytes", size)
	s.publishArchive(a.UUID, a.OwnerUUID, statusCompleted)
	server.WriteJSON(w, http.StatusOK, a.json())
}

// completeArchive locks the archive's row, checks it again, moves the staged bytes under its
// uuid and records the upload.
func (s *Service) completeArchive(ctx context.Context, args pgx.NamedArgs, uploader string, rawInfo []byte, filename, staged string, size int64, moved *bool) (archive, error) {
	tx, err := s.o.DB.Begin(ctx)
	if err != nil {
		return archive{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	t, err := s.uploadTarget(ctx, tx, args, rawInfo, true)
	if err != nil {
		return archive{}, err
	}
	if t.OriginalFilename != filename {
		return archive{}, refuse(http.StatusBadRequest, "Filename does not match the archive information")
	}
	if err := s.o.Blob.Move(ctx, staged, t.UUID); err != nil {
		return archive{}, fmt.Errorf("store archive %s: %w", t.UUID, err)
	}
	*moved = true
	a, err := scanArchive(tx.QueryRow(ctx, `WITH ar AS (
		UPDATE filetransfer.t_archive_file_data SET archive_file_size = $2, archive_upload_datetime = now(),
		       archive_uploader_uuid = $3, archive_status = $4
		 WHERE id_archive_file_data = $1 RETURNING *)
		SELECT `+archiveColumns+` FROM ar LEFT JOIN filetransfer.archive_jobs j ON j.id_archive_file_data = ar.id_archive_file_data`,
		t.ID, size, uploader, statusCompleted))
	if err != nil {
		return archive{}, fmt.Errorf("record archive upload: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return archive{}, fmt.Errorf("commit archive upload: %w", err)
	}
	return a, nil
}
