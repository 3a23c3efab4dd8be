package accessmatrix_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/devmode"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// account is a fixture principal and how it authenticates.
type account struct {
	name string
	kind access.Kind
	id   int32
	// password for HTTP Basic (users); empty for token principals.
	password string
}

// The fixture's accounts (REFERENCE §8) plus site2admin, the admin of site 2 only (extras).
var accounts = []account{
	{"admin", access.User, 1, "admin"},
	{"siteadmin", access.User, 2, "siteadmin"},
	{"user", access.User, 3, "user"},
	{"user2", access.User, 4, "user2"},
	{"user3", access.User, 5, "user3"},
	{"user4", access.User, 6, "user4"},
	{"site2admin", access.User, 8, "site2admin"},
	{"participant1", access.Participant, 1, ""},
	{"device1", access.Device, 1, ""},
	{"service VideoRehab", access.Service, 6, ""},
}

// extras adds to the fixture what its scopes lack: a second superadmin sharing group 3 (admins
// of site 1), an admin of site 2 only (group 6, user 8), a participant group in project 3, and a
// VideoRehab role scoped to site 2.
func extras(site2adminHash string) string {
	return `
INSERT INTO core.t_users (id_user, user_uuid, user_username, user_password, user_firstname, user_lastname, user_enabled, user_profile, user_superadmin)
VALUES (7, gen_random_uuid(), 'super2', '` + site2adminHash + `', 'Second', 'Superadmin', true, '', true),
       (8, gen_random_uuid(), 'site2admin', '` + site2adminHash + `', 'Secret', 'Site Admin', true, '', false);
INSERT INTO core.t_users_groups (id_user_group, user_group_name) VALUES (6, 'Admins - Secret Site');
INSERT INTO core.t_services_access (id_user_group, id_service_role)
  SELECT 6, sr.id_service_role FROM core.t_services_roles sr WHERE sr.id_service = 1 AND sr.id_site = 2 AND sr.service_role_name = 'admin';
INSERT INTO core.t_users_users_groups (id_user, id_user_group) VALUES (7, 3), (8, 6);
INSERT INTO core.t_participants_groups (id_participant_group, id_project, participant_group_name) VALUES (3, 3, 'Secret Participant Group');
INSERT INTO core.t_services_roles (id_service, id_site, service_role_name) VALUES (6, 2, 'secret-site-role');
-- The fixture's assets become files of the filetransfer target (its DELETE and rename walk
-- them with valid access tokens, so only the SQL access check stands between an account and
-- the assets of sessions outside its scope); the admin has a completed archive and one in
-- progress, participant 1 a pending one (made outside the target: no job).
UPDATE core.t_assets SET asset_service_uuid = (SELECT service_uuid FROM core.t_services WHERE service_key = 'FileTransferService');
INSERT INTO filetransfer.t_asset_file_data (asset_uuid, asset_original_filename, asset_file_size)
  SELECT asset_uuid, 'fixture-' || id_asset || '.bin', 0 FROM core.t_assets;
INSERT INTO filetransfer.t_archive_file_data (archive_uuid, archive_original_filename, archive_status, archive_owner_uuid)
  SELECT '00000000-0000-0000-0000-0000000a0001', 'fixture_archive.zip', 2, user_uuid FROM core.t_users WHERE id_user = 1;
INSERT INTO filetransfer.t_archive_file_data (id_archive_file_data, archive_uuid, archive_original_filename, archive_status, archive_owner_uuid)
  SELECT 2, '00000000-0000-0000-0000-0000000a0002', 'pending_archive.zip', 1, user_uuid FROM core.t_users WHERE id_user = 1
  UNION ALL SELECT 3, '00000000-0000-0000-0000-0000000a0003', 'participant_archive.zip', 0, participant_uuid FROM core.t_participants WHERE id_participant = 1;
SELECT setval(pg_get_serial_sequence('filetransfer.t_archive_file_data', 'id_archive_file_data'), 100);
SELECT setval(pg_get_serial_sequence('core.t_users', 'id_user'), 100);
SELECT setval(pg_get_serial_sequence('core.t_users_groups', 'id_user_group'), 100);
SELECT setval(pg_get_serial_sequence('core.t_participants_groups', 'id_participant_group'), 100);
`
}

// site is one process running every registered target over its own clone of the fixture.
type site struct {
	t      testing.TB
	db     *pgxpool.Pool
	base   string
	srv    *server.Server
	signer *authn.Signer
	client *http.Client
	// Token principals' uuids and static tokens.
	uuids  map[string]string
	device string
}

var site2Hash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("site2admin"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func newSite(t testing.TB) *site {
	t.Helper()
	return newSiteWith(t)
}

// newSiteWith runs extra services beside every target's (the checks' own tests).
func newSiteWith(t testing.TB, extra ...server.Service) *site {
	t.Helper()
	ctx := context.Background()
	url := testenv.FixtureURL(t)
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(ctx, extras(site2Hash)); err != nil {
		t.Fatalf("fixture extras: %v", err)
	}
	keysDir, caDir := t.TempDir(), t.TempDir()
	if _, err := authn.GenerateKeyFile(keysDir); err != nil {
		t.Fatal(err)
	}
	if err := devmode.GenerateDeviceCA(caDir, "matrix device CA"); err != nil {
		t.Fatal(err)
	}
	keys, err := authn.LoadKeySet(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fleet.DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = config.Duration(time.Second)
	cfg.Database.URL = url
	cfg.Database.MaxConns = 4
	// Its own NATS: the fixture's uuids repeat across clones, so KV state must not carry over.
	cfg.NATS.URL = testenv.NewNATS(t).ClientURL()
	cfg.PublicURL = "https://tera.test"
	cfg.Auth.SigningKeysDir, cfg.Auth.DeviceCADir = keysDir, caDir
	cfg.FileTransfer.Blob.Dir = t.TempDir()
	targets, err := fleet.Resolve("all")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	p, err := fleet.Start(runCtx, cfg, targets, fleet.Options{Log: testenv.Quiet(), Extra: extra})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	s := &site{t: t, db: db, base: "http://" + p.Server.HTTPAddr(), srv: p.Server, signer: &authn.Signer{Keys: keys},
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		uuids:  map[string]string{}}
	for name, q := range map[string]string{
		"participant": "SELECT participant_uuid FROM core.t_participants WHERE id_participant = 1",
		"service":     "SELECT service_uuid FROM core.t_services WHERE id_service = 6",
	} {
		var u string
		if err := db.QueryRow(ctx, q).Scan(&u); err != nil {
			t.Fatal(err)
		}
		s.uuids[name] = u
	}
	if err := db.QueryRow(ctx, "SELECT device_token FROM core.t_devices WHERE id_device = 1").Scan(&s.device); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.base + "/livez")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("site did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// authorization is the header an account sends: Basic for users (as OpenTeraPlus does), a fresh
// token for the others (a logout or refresh in the walk revokes the token it was given).
func (s *site) authorization(a account) string {
	switch a.kind {
	case access.User:
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.name+":"+a.password))
	case access.Participant:
		tok, err := s.signer.ParticipantToken(int64(a.id), s.uuids["participant"], "Participant #1", time.Hour)
		if err != nil {
			s.t.Fatal(err)
		}
		return "OpenTera " + tok
	case access.Device:
		return "OpenTera " + s.device
	case access.Service:
		tok, err := s.signer.ServiceToken(s.uuids["service"])
		if err != nil {
			s.t.Fatal(err)
		}
		return "OpenTera " + tok
	}
	panic("unknown kind " + a.kind)
}

// answer is a response as the walk needs it.
type answer struct {
	status int
	reason string
	ctype  string
	body   []byte
}

func (s *site) send(a account, r request) answer {
	s.t.Helper()
	u := s.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = strings.NewReader(string(r.body))
	}
	req, err := http.NewRequest(r.method, u, body)
	if err != nil {
		s.t.Fatalf("%s: %v", r, err)
	}
	req.Header.Set("Authorization", s.authorization(a))
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s as %s: %v", r, a.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, reason: resp.Header.Get(server.ReasonHeader), ctype: resp.Header.Get("Content-Type"), body: b}
}

func (r request) String() string {
	q := ""
	if len(r.query) > 0 {
		q = "?" + r.query.Encode()
	}
	b := ""
	if r.body != nil {
		b = " " + string(r.body)
	}
	return fmt.Sprintf("%s %s%s%s", r.method, r.path, q, b)
}
