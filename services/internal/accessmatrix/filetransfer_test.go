package accessmatrix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/url"

	"github.com/tera-health/tera/services/internal/access"
)

// assetTokenFor signs asset access tokens for an account, as core's with_urls would give it:
// the filetransfer routes are walked with valid tokens for every asset, in scope or not, so
// their refusals come from the SQL access checks of the writes, not from a missing token.
func (s *site) assetTokenFor(ctx context.Context, a account) func(string) string {
	q := map[access.Kind]string{access.User: "SELECT user_uuid FROM core.t_users WHERE id_user = $1",
		access.Participant: "SELECT participant_uuid FROM core.t_participants WHERE id_participant = $1",
		access.Device:      "SELECT device_uuid FROM core.t_devices WHERE id_device = $1",
		access.Service:     "SELECT service_uuid FROM core.t_services WHERE id_service = $1"}[a.kind]
	var requester string
	if err := s.db.QueryRow(ctx, q, a.id).Scan(&requester); err != nil {
		s.t.Fatal(err)
	}
	return func(assetUUID string) string {
		tok, err := s.signer.AssetToken(requester, []string{assetUUID})
		if err != nil {
			s.t.Fatal(err)
		}
		return tok
	}
}

// fileTransferWrites build the filetransfer target's plain write routes.
var fileTransferWrites = map[string]func(v *values) []request{
	// Uploads to sessions in and out of every scope, naming participants in and out of it as
	// creators (a service must name one).
	"POST /file/api/assets": func(v *values) []request {
		var out []request
		for _, session := range sample(v.ids["id_session"], 8) {
			for _, p := range sample(v.ids["id_participant"], 2) {
				var b bytes.Buffer
				mw := multipart.NewWriter(&b)
				desc, _ := json.Marshal(map[string]any{"id_session": session, "asset_name": "matrix", "id_participant": p})
				_ = mw.WriteField("file_asset", string(desc))
				w, _ := mw.CreateFormFile("file", "matrix.bin")
				_, _ = w.Write([]byte("matrix"))
				_ = mw.Close()
				out = append(out, request{method: "POST", path: "/file/api/assets", body: b.Bytes(), contentType: mw.FormDataContentType()})
			}
		}
		return out
	},
	"DELETE /file/api/assets": func(v *values) []request {
		var out []request
		for _, u := range v.strings["asset_uuid"] {
			out = append(out, request{method: "DELETE", path: "/file/api/assets", query: url.Values{"uuid": {u}, "access_token": {v.assetToken(u)}}})
		}
		return out
	},
	"POST /file/api/assets/infos": func(v *values) []request {
		var out []request
		for _, u := range v.strings["asset_uuid"] {
			body, _ := json.Marshal(map[string]any{"file_asset": map[string]any{"asset_uuid": u, "asset_original_filename": "renamed.bin",
				"access_token": v.assetToken(u)}})
			out = append(out, request{method: "POST", path: "/file/api/assets/infos", body: body})
		}
		return out
	},
	// Archives created for every kind of owner (the account's own among them), and status
	// changes of the fixture's archives (ids 1 to 3) and an unknown one.
	"POST /file/api/archives/infos": func(v *values) []request {
		var out []request
		for _, owner := range v.strings["uuid"] {
			body, _ := json.Marshal(map[string]any{"archive": map[string]any{"id_archive_file_data": 0,
				"archive_original_filename": "matrix.zip", "archive_owner_uuid": owner}})
			out = append(out, request{method: "POST", path: "/file/api/archives/infos", body: body})
		}
		for id := 1; id <= 4; id++ {
			body, _ := json.Marshal(map[string]any{"archive": map[string]any{"id_archive_file_data": id,
				"archive_original_filename": "x.zip", "archive_owner_uuid": "x", "archive_status": 3}})
			out = append(out, request{method: "POST", path: "/file/api/archives/infos", body: body})
		}
		return out
	},
	// Uploads into the fixture's archives, each under its own name.
	"POST /file/api/archives": func(v *values) []request {
		var out []request
		for i, name := range []string{"fixture_archive.zip", "pending_archive.zip", "participant_archive.zip", "none.zip"} {
			id := i + 1
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			info, _ := json.Marshal(map[string]any{"id_archive_file_data": id})
			_ = mw.WriteField("archive", string(info))
			w, _ := mw.CreateFormFile("file", name)
			_, _ = w.Write([]byte("matrix zip"))
			_ = mw.Close()
			out = append(out, request{method: "POST", path: "/file/api/archives", body: b.Bytes(), contentType: mw.FormDataContentType()})
		}
		return out
	},
	"DELETE /file/api/archives": func(v *values) []request {
		return []request{{method: "DELETE", path: "/file/api/archives", query: url.Values{"uuid": {"00000000-0000-0000-0000-0000000a0001"}}}}
	},
}
