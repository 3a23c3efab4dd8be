package core

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
)

// /api/user/server/settings and /api/user/versions

type serverInfo struct {
	*Service
	corev1.UnimplementedServerServiceServer
}

func (s *serverInfo) setting(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string, lock bool) (string, error) {
	var v string
	sql := "SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = $1"
	if lock {
		sql += " FOR UPDATE"
	}
	err := q.QueryRow(ctx, sql, name).Scan(&v)
	if err == pgx.ErrNoRows {
		return "", nil
	}
	return v, err
}

func (s *serverInfo) GetServerSettings(ctx context.Context, r *corev1.GetServerSettingsRequest) (*corev1.GetServerSettingsResponse, error) {
	out := &corev1.ServerSettings{}
	if r.Uuid {
		v, err := s.setting(ctx, s.db, "ServerUUID", false)
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		out.ServerUuid = &v
	}
	if r.DeviceRegisterKey {
		v, err := s.setting(ctx, s.db, "DeviceRegisterKey", false)
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		out.DeviceRegisterKey = &v
	}
	return &corev1.GetServerSettingsResponse{Settings: out}, nil
}

// defaultVersions is what OpenTera answers when the setting is missing or unreadable.
func defaultVersions() *corev1.Versions {
	str := func(s string) *string { return &s }
	return &corev1.Versions{VersionString: "1.3.0", VersionMajor: 1, VersionMinor: 3, VersionPatch: 0,
		Clients: map[string]*corev1.ClientVersions{"OpenTeraPlus": {
			ClientName: str("OpenTeraPlus"), ClientDescription: str("OpenTeraPlus Qt Client"), ClientVersion: str("1.0.0"),
			ClientDocumentationUrl: str("https://github.com/introlab/openteraplus")}}}
}

// versionsJSON is the stored ServerVersions JSON (clients as a map of objects of strings).
type versionsJSON struct {
	VersionString string                        `json:"version_string"`
	VersionMajor  int32                         `json:"version_major"`
	VersionMinor  int32                         `json:"version_minor"`
	VersionPatch  int32                         `json:"version_patch"`
	Clients       map[string]map[string]*string `json:"clients"`
}

var clientKeys = []string{"client_name", "client_description", "client_version", "client_documentation_url",
	"client_windows_download_url", "client_mac_download_url", "client_linux_download_url"}

// clientField reads and writes one key of a client's versions.
type clientField struct {
	get func() *string
	set func(*string)
}

func clientFields(c *corev1.ClientVersions) []clientField {
	plain := func(p **string) clientField {
		return clientField{func() *string { return *p }, func(v *string) { *p = v }}
	}
	// The download URLs are wrappers: always emitted, null when unset.
	wrapped := func(p **wrapperspb.StringValue) clientField {
		return clientField{func() *string {
			if *p == nil {
				return nil
			}
			return &(*p).Value
		}, func(v *string) { *p = strValue(v) }}
	}
	return []clientField{plain(&c.ClientName), plain(&c.ClientDescription), plain(&c.ClientVersion), plain(&c.ClientDocumentationUrl),
		wrapped(&c.ClientWindowsDownloadUrl), wrapped(&c.ClientMacDownloadUrl), wrapped(&c.ClientLinuxDownloadUrl)}
}

func parseVersions(raw string) *corev1.Versions {
	var v versionsJSON
	if raw == "" || json.Unmarshal([]byte(raw), &v) != nil || v.VersionString == "" {
		return defaultVersions()
	}
	out := &corev1.Versions{VersionString: v.VersionString, VersionMajor: v.VersionMajor, VersionMinor: v.VersionMinor,
		VersionPatch: v.VersionPatch, Clients: map[string]*corev1.ClientVersions{}}
	for name, fields := range v.Clients {
		c := &corev1.ClientVersions{}
		for i, f := range clientFields(c) {
			if val, ok := fields[clientKeys[i]]; ok && val != nil {
				f.set(val)
			}
		}
		out.Clients[name] = c
	}
	return out
}

func formatVersions(v *corev1.Versions) (string, error) {
	out := versionsJSON{VersionString: v.VersionString, VersionMajor: v.VersionMajor, VersionMinor: v.VersionMinor,
		VersionPatch: v.VersionPatch, Clients: map[string]map[string]*string{}}
	for name, c := range v.Clients {
		m := map[string]*string{}
		for i, f := range clientFields(c) {
			m[clientKeys[i]] = f.get()
		}
		out.Clients[name] = m
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func (s *serverInfo) GetVersions(ctx context.Context, _ *corev1.GetVersionsRequest) (*corev1.GetVersionsResponse, error) {
	raw, err := s.setting(ctx, s.db, "ServerVersions", false)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetVersionsResponse{Versions: parseVersions(raw)}, nil
}

func (s *serverInfo) PostVersions(ctx context.Context, r *corev1.PostVersionsRequest) (*corev1.PostVersionsResponse, error) {
	// Superadmin only (declared on the RPC).
	c := r.GetClientVersions()
	if c != nil && strings.TrimSpace(c.GetClientName()) == "" {
		return nil, apierr.MissingArgument("Wrong ClientVersions: missing client_name")
	}
	var out *corev1.Versions
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		raw, err := s.setting(ctx, tx, "ServerVersions", true)
		if err != nil {
			return err
		}
		out = parseVersions(raw)
		if c == nil {
			return nil
		}
		out.Clients[c.GetClientName()] = c
		text, err := formatVersions(out)
		if err != nil {
			return err
		}
		// The outbox trigger on t_server_settings publishes the change (server_settings).
		_, err = tx.Exec(ctx, `INSERT INTO core.t_server_settings (server_settings_name, server_settings_value)
			VALUES ('ServerVersions', $1)
			ON CONFLICT (server_settings_name) DO UPDATE SET server_settings_value = EXCLUDED.server_settings_value`, text)
		return err
	})
	return reply(&corev1.PostVersionsResponse{Versions: out}, err)
}
