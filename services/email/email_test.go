package email_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one site (OpenTera's test fixture, with EmailService's test templates 1–4) with a
// login process, an SMTP server, and email processes started against both.
type env struct {
	*fleettest.Site
	t        *testing.T
	smtp     *smtpServer
	loginURL string
	tokens   map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{Site: fleettest.NewSite(t), t: t, smtp: startSMTP(t), tokens: map[string]string{}}
	e.loginURL, _ = e.Start("login")
	return e
}

// smtpConfig points at the test SMTP server: STARTTLS required, its CA, PLAIN credentials.
func (e *env) smtpConfig(c *fleet.Config) {
	host, port, _ := net.SplitHostPort(e.smtp.addr)
	c.Email.SMTP.Host = host
	c.Email.SMTP.Port, _ = strconv.Atoi(port)
	c.Email.SMTP.TLS = "starttls"
	c.Email.SMTP.CAFile = e.smtp.caFile
	c.Email.SMTP.Username, c.Email.SMTP.Password = e.smtp.user, e.smtp.pass
	c.Email.Sender = "noreply@tera.test"
	c.Email.RetryBackoff = config.Duration(100 * time.Millisecond)
	c.Email.PollInterval = config.Duration(100 * time.Millisecond)
}

var do = fleettest.Do

// token logs a fixture user (password = username) or participant1 in, once.
func (e *env) token(name string) string {
	if tok, ok := e.tokens[name]; ok {
		return tok
	}
	kind, pass := "user", name
	if name == "participant1" {
		kind, pass = "participant", "opentera"
	}
	e.tokens[name] = fleettest.Login(e.t, e.loginURL, kind, name, pass)
	return e.tokens[name]
}

func (e *env) as(name string) http.Header {
	return http.Header{"Authorization": {"OpenTera " + e.token(name)}}
}

func (e *env) uuidOf(q string) string {
	var u string
	if err := e.DB.QueryRow(context.Background(), q).Scan(&u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) queued() int {
	var n int
	if err := e.DB.QueryRow(context.Background(), `SELECT count(*) FROM email.queue`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A template mail reaches the SMTP server: global template, variables substituted, from the
// configured sender in the caller's name, Reply-To the caller, HTML.
func TestSendWithTemplateAndVariables(t *testing.T) {
	e := newEnv(t)
	mailURL, _ := e.Start("email", e.smtpConfig)
	p1 := e.uuidOf(`SELECT participant_uuid FROM core.t_participants WHERE participant_username = 'participant1'`)
	user := e.uuidOf(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`)

	a := do(t, "POST", mailURL+"/email/api/send", e.as("admin"), map[string]any{"participant_uuid": p1, "user_uuid": []string{user},
		"id_template": 1, "subject": "Your session", "body_variables": map[string]any{"variable": "V1Test"}})
	if a.Status != 200 || strings.TrimSpace(string(a.Body)) != "200" {
		t.Fatalf("send: %d %s", a.Status, a.Body)
	}
	m := e.smtp.wait(t, 1)
	if !strings.Contains(m.body, "This is a GLOBAL general test email, using V1Test .") {
		t.Errorf("body: %q", m.body)
	}
	h := m.msg.Header
	for k, want := range map[string]string{"Subject": "Your session", "From": `"Super Admin" <noreply@tera.test>`,
		"Reply-To": "<admin@opentera.org>"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.HasSuffix(h.Get("Message-Id"), "@tera.test>") {
		t.Errorf("Content-Type %q, Message-Id %q", h.Get("Content-Type"), h.Get("Message-Id"))
	}
	if got := strings.Join(m.to, ","); got != "x@opentera.org,noaccess@opentera.org" && got != "noaccess@opentera.org,x@opentera.org" {
		t.Errorf("recipients %s", got)
	}
	if m.from != "noreply@tera.test" {
		t.Errorf("envelope sender %s", m.from)
	}
	if n := e.queued(); n != 0 {
		t.Errorf("%d messages still queued after delivery", n)
	}

	// A body, OpenTera's documented list form of variables, ${name}, $$ and unknown names.
	a = do(t, "POST", mailURL+"/email/api/send", e.as("admin"), map[string]any{"participant_uuid": []string{p1},
		"body": "Hi ${who}, $$5 for $what; $unknown stays", "body_variables": []map[string]any{{"name": "who", "value": "Ann"}, {"name": "what", "value": 3}}})
	if a.Status != 200 {
		t.Fatalf("send body: %d %s", a.Status, a.Body)
	}
	m = e.smtp.wait(t, 2)
	if !strings.Contains(m.body, "Hi Ann, $5 for 3; $unknown stays") || m.msg.Header.Get("Subject") != "(No subject)" {
		t.Errorf("body %q subject %q", m.body, m.msg.Header.Get("Subject"))
	}
}

// Templates by key fall back from the project to its site to the global one, flagged
// inherited; by id, site and project they need access.
func TestTemplateFallback(t *testing.T) {
	e := newEnv(t)
	mailURL, _ := e.Start("email", e.smtpConfig)
	get := func(who string, q url.Values) ([]map[string]any, int) {
		a := do(t, "GET", mailURL+"/email/api/templates?"+q.Encode(), e.as(who), nil)
		var v []map[string]any
		if a.Status == 200 {
			a.JSON(t, &v)
		}
		return v, a.Status
	}
	cases := []struct {
		who        string
		q          url.Values
		status     int
		id         float64 // 0: []
		inherited  bool
		idProject  any
		siteOfTmpl any
	}{
		{"user3", url.Values{"key": {"GENERAL_TEST_EMAIL"}, "id_project": {"1"}}, 200, 4, false, 1.0, nil},
		{"admin", url.Values{"key": {"GENERAL_TEST_EMAIL"}, "id_project": {"2"}}, 200, 1, true, nil, nil},
		{"admin", url.Values{"key": {"GENERAL_TEST_EMAIL"}, "id_site": {"2"}}, 200, 1, true, nil, nil},
		{"admin", url.Values{"key": {"SITE_EMAIL"}, "id_site": {"2"}}, 200, 3, false, nil, 2.0},
		{"admin", url.Values{"key": {"SITE_EMAIL"}, "id_site": {"1"}}, 200, 0, false, nil, nil},
		{"admin", url.Values{"key": {"GENERAL_TEST_EMAIL"}, "lang": {"fr"}}, 200, 0, false, nil, nil},
		{"admin", url.Values{"key": {"GENERAL_TEST_EMAIL"}, "id_project": {"99"}}, 400, 0, false, nil, nil},
		{"user4", url.Values{"key": {"GENERAL_TEST_EMAIL"}}, 200, 1, false, nil, nil},
		{"user4", url.Values{"key": {"PROJECT_EMAIL"}}, 403, 0, false, nil, nil},
		{"user4", url.Values{"key": {"SITE_EMAIL"}}, 403, 0, false, nil, nil},
		{"user4", url.Values{"id_template": {"1"}}, 200, 1, false, nil, nil},
		{"user4", url.Values{"id_template": {"2"}}, 403, 0, false, nil, nil},
		{"admin", url.Values{"id_template": {"100"}}, 403, 0, false, nil, nil},
		{"user3", url.Values{"id_site": {"2"}}, 403, 0, false, nil, nil},
		{"admin", url.Values{"id_site": {"100"}}, 403, 0, false, nil, nil},
		{"user3", url.Values{"id_project": {"3"}}, 403, 0, false, nil, nil},
		{"admin", url.Values{}, 400, 0, false, nil, nil},
	}
	for _, c := range cases {
		got, status := get(c.who, c.q)
		if status != c.status {
			t.Errorf("%s %v: %d, want %d", c.who, c.q, status, c.status)
			continue
		}
		if status != 200 {
			continue
		}
		if c.id == 0 {
			if len(got) != 0 {
				t.Errorf("%s %v: %v, want []", c.who, c.q, got)
			}
			continue
		}
		if len(got) != 1 || got[0]["id_email_template"] != c.id || got[0]["inherited"] != c.inherited ||
			got[0]["id_project"] != c.idProject || got[0]["id_site"] != c.siteOfTmpl {
			t.Errorf("%s %v: %v", c.who, c.q, got)
		}
	}
	// user3 (admin of project 1) lists the project's templates.
	got, status := get("user3", url.Values{"id_project": {"1"}})
	if status != 200 || len(got) != 2 {
		t.Errorf("project 1 templates: %d %v", status, got)
	}
	for _, k := range []string{"id_email_template", "id_site", "id_project", "email_template_key", "email_template",
		"email_template_language", "inherited"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("template lacks %s: %v", k, got[0])
		}
	}
}

// Recipients, templates and the caller are checked before anything is queued or sent.
func TestSendRefusals(t *testing.T) {
	e := newEnv(t)
	mailURL, _ := e.Start("email", e.smtpConfig)
	admin := e.uuidOf(`SELECT user_uuid FROM core.t_users WHERE user_username = 'admin'`)
	user4 := e.uuidOf(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`)
	p1 := e.uuidOf(`SELECT participant_uuid FROM core.t_participants WHERE participant_username = 'participant1'`)
	p2 := e.uuidOf(`SELECT participant_uuid FROM core.t_participants WHERE participant_name = 'Participant #2'`)
	cases := []struct {
		who    string
		body   map[string]any
		status int
		msg    string
	}{
		{"admin", map[string]any{}, 400, "Missing email address"},
		{"user3", map[string]any{"user_uuid": admin, "body": "x"}, 403, "At least one user is not accessible"},
		{"admin", map[string]any{"user_uuid": []string{admin, "11111111"}, "body": "x"}, 403, "At least one user is not accessible"},
		{"user4", map[string]any{"participant_uuid": p1, "body": "x"}, 403, "At least one participant is not accessible"},
		{"admin", map[string]any{"participant_uuid": []string{p1, "11111111"}, "body": "x"}, 403, "At least one participant is not accessible"},
		{"admin", map[string]any{"participant_uuid": p1, "id_template": 1, "body": "x"}, 400, "Can't specify both a template and an email body"},
		{"admin", map[string]any{"participant_uuid": p1}, 400, "Missing template ID or body text"},
		{"user3", map[string]any{"participant_uuid": p2, "body": "x"}, 400, "Missing email address"},
		{"admin", map[string]any{"participant_uuid": p1, "id_template": 0}, 403, "Forbidden"},
		{"user4", map[string]any{"user_uuid": user4, "id_template": 3}, 403, "Forbidden"},
		{"user4", map[string]any{"user_uuid": user4, "id_template": 2}, 403, "Forbidden"},
		{"user3", map[string]any{"participant_uuid": p1, "id_template": 1}, 403, "Forbidden"},
		{"user4", map[string]any{"user_uuid": user4, "body": "x"}, 200, ""},
		// user4 has an address; user3 has none and cannot be replied to.
		{"user3", map[string]any{"participant_uuid": p1, "body": "x"}, 400, "User doesn't have any email address set"},
		{"admin", map[string]any{"participant_uuid": 5, "body": "x"}, 400, "participant_uuid: must be a uuid or an array of uuids"},
		{"admin", map[string]any{"participant_uuid": p1, "body": "x", "body_variables": "v"}, 400, "body_variables"},
	}
	for _, c := range cases {
		a := do(t, "POST", mailURL+"/email/api/send", e.as(c.who), c.body)
		if a.Status != c.status || (c.msg != "" && !strings.Contains(string(a.Body), c.msg)) {
			t.Errorf("%s %v: %d %s, want %d %q", c.who, c.body, a.Status, a.Body, c.status, c.msg)
		}
	}
	if a := do(t, "POST", mailURL+"/email/api/send", e.as("participant1"), map[string]any{"user_uuid": user4, "body": "x"}); a.Status != 401 {
		t.Errorf("participant: %d %s", a.Status, a.Body)
	}
	if n := len(e.smtp.messages()); n != 1 {
		t.Errorf("%d messages delivered, want the 1 allowed", n)
	}
	if n := e.queued(); n != 0 {
		t.Errorf("%d messages queued", n)
	}
}

// SMTP unreachable: 503, and nothing left queued to surprise the caller later.
func TestSMTPUnreachableIs503(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	mailURL, _ := e.Start("email", e.smtpConfig, func(c *fleet.Config) { c.Email.SMTP.Port = closed })
	user4 := e.uuidOf(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`)
	a := do(t, "POST", mailURL+"/email/api/send", e.as("admin"), map[string]any{"user_uuid": user4, "body": "x"})
	if a.Status != 503 || !strings.Contains(string(a.Body), "Can't connect to SMTP server") {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if n := e.queued(); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
	// No server configured at all (tera dev): the same answer.
	devURL, _ := e.Start("email")
	if a := do(t, "POST", devURL+"/email/api/send", e.as("admin"), map[string]any{"user_uuid": user4, "body": "x"}); a.Status != 503 {
		t.Fatalf("without smtp.host: %d %s", a.Status, a.Body)
	}
}

// A temporary refusal keeps the message queued; it survives a restart of the email target and
// is delivered by the next one.
func TestTemporaryFailureRetriedAcrossRestart(t *testing.T) {
	e := newEnv(t)
	e.smtp.setTempFail(true)
	mailURL, stop := e.Start("email", e.smtpConfig, func(c *fleet.Config) { c.Email.RetryBackoff = config.Duration(time.Hour) })
	user4 := e.uuidOf(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`)
	a := do(t, "POST", mailURL+"/email/api/send", e.as("admin"), map[string]any{"user_uuid": user4, "body": "kept for later", "subject": "retry"})
	if a.Status != 200 {
		t.Fatalf("send while the relay refuses temporarily: %d %s", a.Status, a.Body)
	}
	var attempts int
	var lastErr string
	if err := e.DB.QueryRow(context.Background(), `SELECT attempts, last_error FROM email.queue`).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || !strings.Contains(lastErr, "451") {
		t.Errorf("queued with %d attempts, last error %q", attempts, lastErr)
	}
	stop()
	e.smtp.setTempFail(false)
	if _, err := e.DB.Exec(context.Background(), `UPDATE email.queue SET next_attempt_at = now()`); err != nil {
		t.Fatal(err) // the hour of backoff has passed
	}
	e.Start("email", e.smtpConfig)
	m := e.smtp.wait(t, 1)
	if m.msg.Header.Get("Subject") != "retry" || !strings.Contains(m.body, "kept for later") {
		t.Errorf("delivered %v %q", m.msg.Header, m.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.queued() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("delivered message still queued")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(e.smtp.messages()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

// Template writes: scope admins only, for the template as it is and as it will be.
func TestTemplateWrites(t *testing.T) {
	e := newEnv(t)
	mailURL, _ := e.Start("email", e.smtpConfig)
	post := func(who string, tmpl map[string]any) fleettest.Answer {
		var body any = map[string]any{"email_template": tmpl}
		if tmpl == nil {
			body = map[string]any{}
		}
		return do(t, "POST", mailURL+"/email/api/templates", e.as(who), body)
	}
	cases := []struct {
		who    string
		tmpl   map[string]any
		status int
		msg    string
	}{
		{"admin", nil, 400, "Missing template"},
		{"admin", map[string]any{}, 400, "Missing id_email_template"},
		{"admin", map[string]any{"id_email_template": 0, "id_site": 1, "id_project": 1}, 400, "Can't specify both"},
		{"user3", map[string]any{"id_email_template": 0, "id_site": 2}, 403, "Forbidden"},
		{"user4", map[string]any{"id_email_template": 0, "id_project": 1}, 403, "Forbidden"},
		{"siteadmin", map[string]any{"id_email_template": 0}, 403, "Forbidden"},
		{"user3", map[string]any{"id_email_template": 999}, 403, "Forbidden"},
		{"siteadmin", map[string]any{"id_email_template": 3, "id_site": 1}, 403, "Forbidden"},
		{"siteadmin", map[string]any{"id_email_template": 1, "id_site": 1}, 403, "Forbidden"},
		{"siteadmin", map[string]any{"id_email_template": 2, "bad_field": 1}, 400, "bad_field"},
		{"siteadmin", map[string]any{"id_email_template": 0, "id_site": 1}, 400, "Missing fields"},
		// Moving project 1's template into site 2, which siteadmin does not administer.
		{"siteadmin", map[string]any{"id_email_template": 2, "id_project": nil, "id_site": 2}, 403, "Forbidden"},
		{"siteadmin", map[string]any{"id_email_template": 2, "email_template": 7}, 400, "must be a string"},
	}
	for _, c := range cases {
		a := post(c.who, c.tmpl)
		if a.Status != c.status || !strings.Contains(string(a.Body), c.msg) {
			t.Errorf("%s %v: %d %s, want %d %q", c.who, c.tmpl, a.Status, a.Body, c.status, c.msg)
		}
	}
	a := post("siteadmin", map[string]any{"id_email_template": 2, "email_template": "NEW $variable"})
	var tmpl map[string]any
	a.JSON(t, &tmpl)
	if a.Status != 200 || tmpl["email_template"] != "NEW $variable" || tmpl["id_project"] != 1.0 || tmpl["email_template_key"] != "PROJECT_EMAIL" {
		t.Fatalf("update: %d %s", a.Status, a.Body)
	}
	a = post("siteadmin", map[string]any{"id_email_template": 0, "id_site": 1, "email_template_key": "TEST_EMAIL",
		"email_template": "Site one", "email_template_language": "fr"})
	a.JSON(t, &tmpl)
	id := tmpl["id_email_template"].(float64)
	if a.Status != 200 || id <= 4 || tmpl["id_site"] != 1.0 || tmpl["id_project"] != nil || tmpl["email_template_language"] != "fr" {
		t.Fatalf("create: %d %s", a.Status, a.Body)
	}
	del := func(who, q string) fleettest.Answer {
		return do(t, "DELETE", mailURL+"/email/api/templates"+q, e.as(who), nil)
	}
	if a := del("admin", ""); a.Status != 400 {
		t.Errorf("delete without id: %d %s", a.Status, a.Body)
	}
	if a := del("admin", "?id=99"); a.Status != 403 {
		t.Errorf("delete unknown: %d %s", a.Status, a.Body)
	}
	if a := del("user3", fmt.Sprintf("?id=%d", int(id))); a.Status != 403 {
		t.Errorf("delete by a non-admin of the site: %d %s", a.Status, a.Body)
	}
	if a := del("siteadmin", fmt.Sprintf("?id=%d", int(id))); a.Status != 200 || strings.TrimSpace(string(a.Body)) != `""` {
		t.Errorf("delete: %d %s", a.Status, a.Body)
	}
	var n int
	if err := e.DB.QueryRow(context.Background(), `SELECT count(*) FROM email.t_email_templates WHERE id_email_template = $1`, int(id)).Scan(&n); err != nil || n != 0 {
		t.Errorf("template still there: %d %v", n, err)
	}
}

// The SMTP password is a secret: the configuration printed at start does not show it.
func TestSMTPPasswordIsRedacted(t *testing.T) {
	cfg := fleet.DefaultConfig()
	cfg.Email.SMTP.Password = "s3cret-smtp"
	if s := fmt.Sprint(config.Redacted(cfg)...); strings.Contains(s, "s3cret-smtp") || !strings.Contains(s, "email.smtp.host") {
		t.Fatalf("printed configuration: %s", s)
	}
}
