package videorehab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/videorehab/sfu"
)

// Server-side recordings (beyond OpenTera, whose session page records in the browser). A user
// in the room starts and stops one with the signalling socket's record message; the SFU writes
// each track to a temporary file on the room's pod (sfu/record.go). When the recording ends
// (stopped, the room emptied, the pod shutting down) each file that got packets is uploaded to
// the filetransfer target's POST /file/api/assets as VideoRehabService, with a service token
// this process signs with the site's keys: an asset of the session (id_service VideoRehabService,
// stored and served by FileTransferService), listed by /api/user/assets?id_session= and
// downloaded from /file/api/assets like any other. Then the files are deleted, uploaded or not.
//
// Not durable: a pod that dies mid-recording (or before its upload ends) loses the recording,
// which was only on its local disk; a pod shut down gracefully uploads what it recorded within
// the shutdown timeout.

// uploadTimeout bounds one recording's uploads; uploadAttempts is how often a file is tried.
const (
	uploadTimeout  = 10 * time.Minute
	uploadAttempts = 3
)

// recorded takes a finished recording off the SFU's goroutine.
func (s *Service) recorded(room, dir string, files []sfu.RecordedFile) {
	s.uploads.Add(1)
	go func() {
		defer s.uploads.Done()
		defer sfu.RemoveRecording(dir, files)
		ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
		defer cancel()
		if err := s.uploadRecording(ctx, room, files); err != nil {
			s.o.Log.Error("recording lost", "room", room, "files", len(files), "err", err)
		}
	}()
}

func (s *Service) uploadRecording(ctx context.Context, room string, files []sfu.RecordedFile) error {
	var idSession int32
	err := s.o.DB.QueryRow(ctx, `SELECT id_session FROM core.t_sessions WHERE session_uuid = $1`, room).Scan(&idSession)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no session %s", room)
	}
	if err != nil {
		return fmt.Errorf("read session %s: %w", room, err)
	}
	self, id, err := s.self(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if f.Packets == 0 {
			continue // a track that never sent (or never a keyframe): nothing to play
		}
		var err error
		for attempt := range uploadAttempts {
			if attempt > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(attempt) * 2 * time.Second):
				}
			}
			if err = s.uploadFile(ctx, self, id, idSession, f); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			continue
		}
		s.o.Log.Info("recording stored", "session", room, "file", f.Name, "bytes", f.Bytes, "packets", f.Packets, "dropped", f.Dropped)
	}
	return errors.Join(errs...)
}

// uploadFile streams one file as a multipart upload.
func (s *Service) uploadFile(ctx context.Context, self string, idService, idSession int32, f sfu.RecordedFile) error {
	tok, err := s.o.Signer.ServiceToken(self)
	if err != nil {
		return fmt.Errorf("service token: %w", err)
	}
	desc, err := json.Marshal(map[string]any{"id_session": idSession, "asset_name": f.Name, "asset_type": f.ContentType,
		"asset_datetime": f.Started.UTC().Format(time.RFC3339Nano), "id_service": idService})
	if err != nil {
		return err
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer file.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			part, err := mw.CreateFormField("file_asset")
			if err != nil {
				return err
			}
			if _, err := part.Write(desc); err != nil {
				return err
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", multipart.FileContentDisposition("file", f.Name))
			h.Set("Content-Type", f.ContentType)
			if part, err = mw.CreatePart(h); err != nil {
				return err
			}
			if _, err := io.Copy(part, file); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.fileTransferURL()+"/file/api/assets", pr)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "OpenTera "+tok)
	resp, err := s.http.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upload answered %d: %s", resp.StatusCode, body)
	}
	return nil
}

func (s *Service) fileTransferURL() string {
	if s.o.FileTransferURL != "" {
		return s.o.FileTransferURL
	}
	return s.o.PublicURL
}

// waitUploads waits for the recordings being uploaded, at most until ctx ends.
func (s *Service) waitUploads(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.uploads.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.o.Log.Warn("shutting down with recordings still uploading")
	}
}
