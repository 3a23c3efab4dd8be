package filetransfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/blob"
)

// /file/api/assets and /file/api/assets/infos (OpenTera's QueryAssetFile, QueryAssetFileInfos).

// fileData is a t_asset_file_data row (AssetFileData.to_json()).
type fileData struct {
	ID               int32  `json:"id_asset_file_data"`
	AssetUUID        string `json:"asset_uuid"`
	OriginalFilename string `json:"asset_original_filename"`
	FileSize         int64  `json:"asset_file_size"`
}

// The file of a live asset.
const selectFileData = `SELECT f.id_asset_file_data, f.asset_uuid, f.asset_original_filename, f.asset_file_size
  FROM filetransfer.t_asset_file_data f
  JOIN core.t_assets a ON a.asset_uuid = f.asset_uuid AND a.deleted_at IS NULL
 WHERE f.asset_uuid = ANY($1) ORDER BY f.id_asset_file_data`

func (s *Service) fileData(ctx context.Context, uuids ...string) ([]fileData, error) {
	rows, err := s.o.DB.Query(ctx, selectFileData, uuids)
	if err != nil {
		return nil, fmt.Errorf("read asset files: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (fileData, error) {
		var f fileData
		return f, r.Scan(&f.ID, &f.AssetUUID, &f.OriginalFilename, &f.FileSize)
	})
}

// contentType is what Flask's send_file sends: the type guessed from the file name.
func contentType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// guessAssetType is OpenTera's asset_type default: mimetypes.guess_type of the file name.
func guessAssetType(name string) string {
	if t, _, err := mime.ParseMediaType(contentType(name)); err == nil {
		return t
	}
	return "application/octet-stream"
}

// tokenFile reads ?asset_uuid=&access_token= and returns the asset's file, answering 400 when
// one is missing, 403 (denied) when the token does not grant the asset to the caller, and
// missingCode when the asset has no file here; ok is false once answered.
func (s *Service) tokenFile(w http.ResponseWriter, r *http.Request, denied string, missingCode int) (fileData, bool) {
	c, _ := caller(r)
	q := r.URL.Query()
	assetUUID, token := q.Get("asset_uuid"), q.Get("access_token")
	switch {
	case assetUUID == "":
		server.WriteJSON(w, http.StatusBadRequest, "Missing asset_uuid")
		return fileData{}, false
	case token == "":
		server.WriteJSON(w, http.StatusBadRequest, "Missing access_token")
		return fileData{}, false
	}
	if !s.allowsAsset(c, token, assetUUID) {
		server.WriteJSON(w, http.StatusForbidden, denied)
		return fileData{}, false
	}
	files, err := s.fileData(r.Context(), assetUUID)
	if err != nil {
		s.internal(w, r, err)
		return fileData{}, false
	}
	if len(files) == 0 {
		server.WriteJSON(w, missingCode, "No asset found")
		return fileData{}, false
	}
	return files[0], true
}

// downloadAsset is GET /file/api/assets?asset_uuid=&access_token=: the file as an attachment
// under its original name. Ranges are served (resumable downloads, beyond OpenTera).
func (s *Service) downloadAsset(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.tokenFile(w, r, "Access denied to asset", http.StatusNotFound); ok {
		s.serveBlob(w, r, f.AssetUUID, f.OriginalFilename)
	}
}

// serveBlob streams a stored object as an attachment, with ranges and HEAD.
func (s *Service) serveBlob(w http.ResponseWriter, r *http.Request, key, filename string) {
	obj, err := s.o.Blob.Open(r.Context(), key)
	if errors.Is(err, blob.ErrNotFound) {
		s.o.Log.Warn("file missing from the blob store", "key", key)
		server.WriteJSON(w, http.StatusNotFound, "No file found")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer obj.Close()
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	w.Header().Set("Content-Type", contentType(filename))
	http.ServeContent(w, r, "", obj.Info().ModTime, countingSeeker{obj, s.m.downloaded})
}

type countingSeeker struct {
	io.ReadSeeker
	c interface{ Add(float64) }
}

func (c countingSeeker) Read(p []byte) (int, error) {
	n, err := c.ReadSeeker.Read(p)
	c.c.Add(float64(n))
	return n, err
}

// descriptor is the file_asset part of an upload.
type descriptor struct {
	IDSession     *int32  `json:"id_session"`
	AssetName     *string `json:"asset_name"`
	AssetType     *string `json:"asset_type"`
	AssetDatetime *string `json:"asset_datetime"`
	IDParticipant *int32  `json:"id_participant"`
	IDUser        *int32  `json:"id_user"`
	IDDevice      *int32  `json:"id_device"`
	IDService     *int32  `json:"id_service"`
}

// uploadError is an answer decided while reading the multipart body.
type uploadError struct {
	code int
	msg  string
}

func (e *uploadError) Error() string { return e.msg }

func refuse(code int, msg string) error { return &uploadError{code, msg} }

// uploadFailed answers an upload's error: its own status and message, 413 past the body
// limit, else 500.
func (s *Service) uploadFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ue *uploadError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &ue):
		server.WriteJSON(w, ue.code, ue.msg)
	case errors.As(err, &tooLarge):
		server.WriteTooLarge(w, tooLarge.Limit)
	default:
		s.internal(w, r, err)
	}
}

// nextPart is the multipart reader's next part; a malformed body is a 400 (io.EOF and the body
// limit's error pass through).
func nextPart(mr *multipart.Reader) (*multipart.Part, error) {
	part, err := mr.NextPart()
	var tooLarge *http.MaxBytesError
	if err != nil && err != io.EOF && !errors.As(err, &tooLarge) {
		return nil, refuse(http.StatusBadRequest, "Invalid multipart body: "+err.Error())
	}
	return part, err
}

// readDescriptor parses and checks the file_asset part as OpenTera does, in its order.
func readDescriptor(p io.Reader) (*descriptor, error) {
	b, err := io.ReadAll(io.LimitReader(p, 1<<20))
	if err != nil {
		return nil, err
	}
	var d descriptor
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, refuse(http.StatusBadRequest, "Invalid file_asset format")
	}
	if d.IDSession == nil || d.AssetName == nil {
		return nil, refuse(http.StatusBadRequest, "Missing required field(s) in asset descriptor")
	}
	for _, v := range []*string{d.AssetName, d.AssetType, d.AssetDatetime} {
		if v != nil && (strings.ContainsRune(*v, 0) || !utf8.ValidString(*v)) {
			return nil, refuse(http.StatusBadRequest, "Invalid file_asset format")
		}
	}
	return &d, nil
}

// bodyReader remembers an error reading the request, to tell a client's broken or too large
// body from a failure of the store.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// putPart streams a multipart file part to the store under key and counts its bytes. When it
// fails it has answered the client: a body over the limit and a store error through
// uploadFailed, a broken upload with 400.
func (s *Service) putPart(ctx context.Context, w http.ResponseWriter, r *http.Request, key string, part io.Reader) (int64, bool) {
	body := &bodyReader{r: part}
	size, err := s.o.Blob.Put(ctx, key, body)
	if err == nil {
		s.m.uploaded.Add(float64(size))
		return size, true
	}
	var tooLarge *http.MaxBytesError
	switch {
	case body.err != nil && errors.As(body.err, &tooLarge):
		s.uploadFailed(w, r, body.err)
	case body.err != nil:
		server.WriteJSON(w, http.StatusBadRequest, "Upload interrupted: "+body.err.Error())
	default:
		s.uploadFailed(w, r, err)
	}
	return 0, false
}

// uploadAsset is POST /file/api/assets, multipart: `file_asset` (JSON {id_session, asset_name,
// asset_type?, asset_datetime?, id_participant?|id_user?|id_device?|id_service?}) and `file`.
// The file streams to the store under the new asset's uuid; the asset row (owner
// FileTransferService) and its file row are written in one transaction that checks the
// caller's session access in the same statement. Whichever part comes first: with file_asset
// first the access is checked before a byte is stored; with the file first its bytes are
// stored, then dropped if the asset is refused.
func (s *Service) uploadAsset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, scope := caller(r)
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
	assetUUID := uuid.NewString()
	var d *descriptor
	var filename string
	var size int64
	stored, committed := false, false
	defer func() {
		if stored && !committed {
			if err := s.o.Blob.Delete(context.WithoutCancel(ctx), assetUUID); err != nil {
				s.o.Log.Warn("refused upload's bytes not deleted", "key", assetUUID, "err", err)
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
		case "file_asset":
			if d, err = readDescriptor(part); err != nil {
				fail(err)
				return
			}
			if !stored {
				// Refuse before storing anything (the insert checks again, authoritatively).
				ok, err := canSession(ctx, s.o.DB, scope, *d.IDSession)
				if err != nil {
					fail(err)
					return
				}
				if !ok {
					server.WriteJSON(w, http.StatusForbidden, "Session access is forbidden")
					return
				}
			}
		case "file":
			if stored {
				server.WriteJSON(w, http.StatusBadRequest, "Only one file per asset")
				return
			}
			if filename = secureFilename(part.FileName()); filename == "" {
				server.WriteJSON(w, http.StatusBadRequest, "Missing filename")
				return
			}
			stored = true
			n, ok := s.putPart(ctx, w, r, assetUUID, part)
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
	case d == nil:
		server.WriteJSON(w, http.StatusBadRequest, "Missing file asset information")
		return
	case !stored:
		server.WriteJSON(w, http.StatusBadRequest, "Missing uploaded file")
		return
	}
	out, err := s.createAsset(ctx, c, scope, d, assetUUID, filename, size)
	if err != nil {
		fail(err)
		return
	}
	committed = true
	server.WriteJSON(w, http.StatusOK, out)
}

func canSession(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, scope access.Scope, id int32) (bool, error) {
	c := scope.Caller()
	var ok bool
	if err := db.QueryRow(ctx, `SELECT core.can_session($1::text, $2::integer, $3)`, string(c.Kind), c.ID, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("session access: %w", err)
	}
	return ok, nil
}

// insertAsset creates the asset if the caller may add to the session and may name each
// creator given (a service names the participant, user or device it records for; the others
// are their own creator).
const insertAsset = `INSERT INTO core.t_assets (id_session, id_device, id_participant, id_user, id_service, asset_name,
       asset_uuid, asset_service_uuid, asset_type, asset_datetime)
SELECT @id_session, @id_device, @id_participant, @id_user, @id_service, @asset_name, @asset_uuid, @owner, @asset_type, @asset_datetime
 WHERE core.can_session(@acc_kind::text, @acc_id::integer, @id_session)
   AND (@id_participant::integer IS NULL OR (@acc_kind = 'participant' AND @id_participant = @acc_id)
        OR @id_participant IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x))
   AND (@id_device::integer IS NULL OR (@acc_kind = 'device' AND @id_device = @acc_id)
        OR @id_device IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x))
   AND (@id_user::integer IS NULL OR (@acc_kind = 'user' AND @id_user = @acc_id)
        OR @id_user IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x))
   AND (@id_service::integer IS NULL OR (@acc_kind = 'service' AND @id_service = @acc_id))
RETURNING id_asset, asset_datetime`

func (s *Service) createAsset(ctx context.Context, c *authn.Caller, scope access.Scope, d *descriptor, assetUUID, filename string, size int64) (map[string]any, error) {
	args := pgx.NamedArgs{"id_session": *d.IDSession, "asset_name": *d.AssetName, "asset_uuid": assetUUID,
		"acc_kind": string(scope.Caller().Kind), "acc_id": scope.Caller().ID}
	id := int32(c.ID)
	switch c.Kind {
	case authn.KindService:
		if d.IDDevice == nil && d.IDParticipant == nil && d.IDUser == nil && d.IDService == nil {
			return nil, refuse(http.StatusBadRequest, "Missing at least one ID creator")
		}
		args["id_device"], args["id_participant"], args["id_user"], args["id_service"] = d.IDDevice, d.IDParticipant, d.IDUser, &id
	case authn.KindUser:
		args["id_device"], args["id_participant"], args["id_user"], args["id_service"] = nil, nil, &id, nil
	case authn.KindParticipant:
		args["id_device"], args["id_participant"], args["id_user"], args["id_service"] = nil, &id, nil, nil
	case authn.KindDevice:
		args["id_device"], args["id_participant"], args["id_user"], args["id_service"] = &id, nil, nil, nil
	}
	assetType := guessAssetType(filename)
	if d.AssetType != nil && *d.AssetType != "" {
		assetType = *d.AssetType
	}
	args["asset_type"] = assetType
	at := time.Now()
	if d.AssetDatetime != nil {
		t, ok := parseDatetime(*d.AssetDatetime)
		if !ok {
			return nil, refuse(http.StatusBadRequest, "Invalid asset_datetime: "+*d.AssetDatetime)
		}
		at = t
	}
	args["asset_datetime"] = at
	tx, err := s.o.DB.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	owner, _, err := s.self(ctx, tx)
	if err != nil {
		return nil, err
	}
	args["owner"] = owner
	var idAsset int32
	var stamped *time.Time
	err = tx.QueryRow(ctx, insertAsset, args).Scan(&idAsset, &stamped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refuse(http.StatusForbidden, "Session access is forbidden")
	}
	if err != nil {
		return nil, fmt.Errorf("insert asset: %w", err)
	}
	var idFile int32
	if err := tx.QueryRow(ctx, `INSERT INTO filetransfer.t_asset_file_data (asset_uuid, asset_original_filename, asset_file_size)
		VALUES ($1, $2, $3) RETURNING id_asset_file_data`, assetUUID, filename, size).Scan(&idFile); err != nil {
		return nil, fmt.Errorf("insert asset file: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit asset: %w", err)
	}
	out := map[string]any{"id_asset": idAsset, "id_session": *d.IDSession, "id_device": args["id_device"],
		"id_participant": args["id_participant"], "id_user": args["id_user"], "id_service": args["id_service"],
		"asset_name": *d.AssetName, "asset_uuid": assetUUID, "asset_service_uuid": owner, "asset_type": assetType,
		"asset_datetime": isoTime(stamped), "asset_expiration_datetime": nil,
		"id_asset_file_data": idFile, "asset_original_filename": filename, "asset_file_size": size}
	base := s.o.PublicURL + "/file/api/assets"
	out["asset_url"], out["asset_infos_url"] = base, base+"/infos"
	if s.o.Signer != nil {
		tok, err := s.o.Signer.AssetToken(c.UUID, []string{assetUUID})
		if err != nil {
			return nil, fmt.Errorf("asset token: %w", err)
		}
		out["access_token"] = tok
	}
	return out, nil
}

// parseDatetime reads the timestamps OpenTera clients send: ISO 8601 with a "T" or a space,
// with or without fraction and offset (none means UTC).
func parseDatetime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// deleteAsset is DELETE /file/api/assets?uuid=&access_token=: the asset is deleted in core
// (soft, as OpenTera; its DatabaseEvent follows from the outbox) with its file row, in one
// transaction that checks the caller's session access; then the bytes.
func (s *Service) deleteAsset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, scope := caller(r)
	q := r.URL.Query()
	assetUUID, token := q.Get("uuid"), q.Get("access_token")
	switch {
	case assetUUID == "":
		server.WriteJSON(w, http.StatusBadRequest, "Missing uuid")
		return
	case token == "":
		server.WriteJSON(w, http.StatusBadRequest, "Missing access_token")
		return
	}
	if !s.allowsAsset(c, token, assetUUID) {
		server.WriteJSON(w, http.StatusForbidden, "Access denied to asset")
		return
	}
	tx, err := s.o.DB.Begin(ctx)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	owner, _, err := s.self(ctx, tx)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	tag, err := tx.Exec(ctx, `UPDATE core.t_assets a SET deleted_at = now()
		WHERE a.asset_uuid = $1 AND a.asset_service_uuid = $2 AND a.deleted_at IS NULL AND core.can_session($3::text, $4::integer, a.id_session)`,
		assetUUID, owner, string(scope.Caller().Kind), scope.Caller().ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_assets WHERE asset_uuid = $1 AND asset_service_uuid = $2 AND deleted_at IS NULL)`,
			assetUUID, owner).Scan(&exists); err != nil {
			s.internal(w, r, err)
			return
		}
		if !exists {
			server.WriteJSON(w, http.StatusNotFound, "No asset found")
			return
		}
		server.WriteJSON(w, http.StatusForbidden, "Access denied to asset")
		return
	}
	if _, err := tx.Exec(ctx, `DELETE FROM filetransfer.t_asset_file_data WHERE asset_uuid = $1`, assetUUID); err != nil {
		s.internal(w, r, err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		s.internal(w, r, err)
		return
	}
	if err := s.o.Blob.Delete(ctx, assetUUID); err != nil {
		s.o.Log.Warn("deleted asset's bytes not removed", "asset_uuid", assetUUID, "err", err)
	}
	server.WriteJSON(w, http.StatusOK, "")
}

// assetInfos is GET /file/api/assets/infos?asset_uuid=&access_token= (an unknown asset is
// OpenTera's 400).
func (s *Service) assetInfos(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.tokenFile(w, r, "Access denied for that asset", http.StatusBadRequest); ok {
		server.WriteJSON(w, http.StatusOK, f)
	}
}

// postAssetInfos is POST /file/api/assets/infos: {asset_uuids:[…], access_token} lists the
// files of several assets; {file_asset:{asset_uuid, asset_original_filename, access_token}}
// renames one (the only change OpenTera allows: the rest describes the bytes). The token may
// sit at the top level or in file_asset, as OpenTera's clients send it.
func (s *Service) postAssetInfos(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, scope := caller(r)
	var body struct {
		AssetUUIDs  *[]string `json:"asset_uuids"`
		AccessToken string    `json:"access_token"`
		FileAsset   *struct {
			AssetUUID        *string `json:"asset_uuid"`
			OriginalFilename *string `json:"asset_original_filename"`
			AccessToken      string  `json:"access_token"`
		} `json:"file_asset"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			server.WriteTooLarge(w, tooLarge.Limit)
			return
		}
		server.WriteJSON(w, http.StatusBadRequest, "Badly formatted request")
		return
	}
	if body.AssetUUIDs == nil && body.FileAsset == nil {
		server.WriteJSON(w, http.StatusBadRequest, "Badly formatted request")
		return
	}
	token := body.AccessToken
	if token == "" && body.FileAsset != nil {
		token = body.FileAsset.AccessToken
	}
	if body.AssetUUIDs != nil {
		allowed, err := s.allowedAssets(c, token)
		if err != nil {
			server.WriteJSON(w, http.StatusForbidden, "Access denied for at least one requested asset")
			return
		}
		set := map[string]bool{}
		for _, u := range allowed {
			set[u] = true
		}
		for _, u := range *body.AssetUUIDs {
			if !set[u] {
				server.WriteJSON(w, http.StatusForbidden, "Access denied for at least one requested asset")
				return
			}
		}
		files, err := s.fileData(ctx, *body.AssetUUIDs...)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		server.WriteJSON(w, http.StatusOK, files)
		return
	}
	fa := body.FileAsset
	if fa.AssetUUID == nil {
		server.WriteJSON(w, http.StatusBadRequest, "Missing asset uuid")
		return
	}
	if !s.allowsAsset(c, token, *fa.AssetUUID) {
		server.WriteJSON(w, http.StatusForbidden, "Forbidden")
		return
	}
	if fa.OriginalFilename == nil {
		server.WriteJSON(w, http.StatusBadRequest, "Only original filename can be changed from here")
		return
	}
	if strings.ContainsRune(*fa.OriginalFilename, 0) || !utf8.ValidString(*fa.OriginalFilename) {
		server.WriteJSON(w, http.StatusBadRequest, "Invalid asset_original_filename")
		return
	}
	var f fileData
	err := s.o.DB.QueryRow(ctx, `UPDATE filetransfer.t_asset_file_data f SET asset_original_filename = $2
		FROM core.t_assets a
		WHERE f.asset_uuid = $1 AND a.asset_uuid = f.asset_uuid AND a.deleted_at IS NULL AND core.can_session($3::text, $4::integer, a.id_session)
		RETURNING f.id_asset_file_data, f.asset_uuid, f.asset_original_filename, f.asset_file_size`,
		*fa.AssetUUID, *fa.OriginalFilename, string(scope.Caller().Kind), scope.Caller().ID).Scan(&f.ID, &f.AssetUUID, &f.OriginalFilename, &f.FileSize)
	if errors.Is(err, pgx.ErrNoRows) {
		server.WriteJSON(w, http.StatusBadRequest, "Unknown asset")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, f)
}
