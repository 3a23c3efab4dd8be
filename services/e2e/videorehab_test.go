package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/testenv/browser"
)

// A video session in Chromium (fake camera and microphone) on the fleet, each target its own
// process behind the router: a user opens the session lobby of a planned session with
// participant 1 and starts it; the participant's page (another browser context), connected
// with its static token, gets the invitation over its websocket and joins; each page decodes
// the other's video (getStats); the participant mutes (the user's page shows it) and shares
// its screen (a second tile, gone when sharing stops); the user removes the participant (its
// page waits again) and invites it back from the people online (it joins again); the user
// stops the session, the participant's page goes back to waiting, and the session is
// completed with a duration. Screenshots of both pages are kept as artifacts (go test
// -artifacts -outputdir …).
func TestVideoSessionInChromium(t *testing.T) {
	browser.Require(t)
	e, pool := seededEnv(t)
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys)
	// The router's address is the site's public URL: the pages follow websocket_url and the
	// session URLs the fleet builds from it.
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.front = front
	public := "http://" + front.Addr().String()
	cfg, _ := json.Marshal(map[string]any{"public_url": public,
		"videorehab": map[string]any{"listen_ips": []string{"127.0.0.1"}}})
	cfgFile := filepath.Join(t.TempDir(), "tera.yaml")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	e.args = append(e.args, "--config="+cfgFile)
	f := startFleet(t, e, map[string]int{"login": 1, "core": 1, "usermanager": 1, "websocket": 1, "videorehab": 1})
	if f.URL != public {
		t.Fatalf("router at %s, public URL %s", f.URL, public)
	}
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	eventually(t, "videorehab answers session_manage", func() bool {
		_, err := nc.Request("tera.service.VideoRehabService.rpc.session_manage", []byte(`{}`), 2*time.Second)
		return err == nil
	})

	for _, p := range []string{"/rehab/static/participant.js", "/rehab/static/tera.js", "/rehab/static/rehab.css"} {
		if code, b := do(t, http.MethodGet, f.URL+p); code != 200 {
			t.Fatalf("GET %s through the router: %d %.200s", p, code, b)
		}
	}

	// A planned session of the video type with participant 1, as OpenTeraPlus creates one.
	admin := loginToken(t, f.URL, "user", "admin", "admin")
	var partUUID, static string
	if err := pool.QueryRow(context.Background(), `SELECT participant_uuid, participant_token FROM core.t_participants
		WHERE id_participant = 1`).Scan(&partUUID, &static); err != nil {
		t.Fatal(err)
	}
	code, body := call(t, http.MethodPost, f.URL+"/api/user/sessions", admin, map[string]any{"session": map[string]any{
		"id_session": 0, "id_session_type": 1, "session_name": "Browser session", "session_status": 0,
		"session_participants_ids": []int{1}}})
	var created []map[string]any
	if code != 200 || json.Unmarshal(body, &created) != nil || len(created) != 1 || created[0]["session_uuid"] == nil {
		t.Fatalf("create session: %d %s", code, body)
	}
	sessionUUID := created[0]["session_uuid"].(string)

	flags := []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1024, 768),
	}
	// A bound for a stuck page, not a measure.
	userCtx := browser.New(t, 8*time.Minute, flags...)
	logs := &consoleLog{}
	logs.listen(userCtx, "user")
	// The participant on another browser (its own profile), as on its own tablet.
	partCtx := browser.New(t, 8*time.Minute, flags...)
	logs.listen(partCtx, "participant")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- browser console:\n%s", logs.String())
		}
	})
	shots := t.ArtifactDir()
	shot := func(ctx context.Context, name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	frame := `document.getElementById("mainview").contentWindow`

	// The participant's page connects its websocket and waits.
	if err := chromedp.Do(partCtx, chromedp.Navigate(public+"/rehab/participant?token="+url.QueryEscape(static))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, partCtx, "participant page waiting", `document.body.dataset.state === "waiting"`)
	shot(partCtx, "participant-waiting.png")

	// The user's lobby starts the session and opens the session page.
	if err := chromedp.Do(userCtx, chromedp.Navigate(public+"/rehab/user_session_lobby?session_uuid="+sessionUUID+"&token="+url.QueryEscape(admin))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, userCtx, "lobby ready", `document.body.dataset.state === "ready"`)
	if name, err := chromedp.Run(userCtx, chromedp.Text(chromedp.ID("sessionName"))); err != nil || name != "Browser session" {
		t.Fatalf("lobby shows session %q (%v)", name, err)
	}
	shot(userCtx, "user-lobby.png")
	if err := chromedp.Do(userCtx, chromedp.Click(chromedp.ID("start"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, userCtx, "user's session page joined", `location.pathname === "/rehab/users" && window.teraSession && teraSession.state === "joined"`)

	// The participant's page got the invitation over its websocket and joined.
	waitJS(t, partCtx, "participant joined", `document.body.dataset.state === "in-session" && `+frame+`.teraSession && `+frame+`.teraSession.state === "joined"`)
	userRoom, _ := chromedp.Run(userCtx, chromedp.Evaluate[string](`teraSession.room`))
	partRoom, _ := chromedp.Run(partCtx, chromedp.Evaluate[string](frame+`.teraSession.room`))
	if userRoom != sessionUUID || partRoom != sessionUUID {
		t.Fatalf("rooms %q and %q, want the session %s", userRoom, partRoom, sessionUUID)
	}

	// Each side decodes the other's video.
	waitJS(t, userCtx, "user decodes the participant's video", `teraSession.framesDecoded().then(n => n > 0)`)
	waitJS(t, partCtx, "participant decodes the user's video", frame+`.teraSession.framesDecoded().then(n => n > 0)`)
	for name, c := range map[string]context.Context{"user": userCtx, "participant": partCtx} {
		expr := `teraSession.framesDecoded()`
		if name == "participant" {
			expr = frame + "." + expr
		}
		n, err := chromedp.Run(c, chromedp.Evaluate[int](expr, chromedp.EvalAwaitPromise))
		t.Logf("%s page: %d video frames decoded (%v)", name, n, err)
	}
	waitJS(t, userCtx, "the participant's tile on the user's page", `document.querySelectorAll("#remotes video").length > 0`)

	// The participant mutes its microphone: the room is told (by the track id the server knows
	// from the page's answer) and the user's page shows it.
	if _, err := chromedp.Run(partCtx, chromedp.Evaluate[bool](frame+`.document.getElementById("mic").click() === undefined`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, userCtx, "the participant shown muted", `[...document.querySelectorAll("#remotes figcaption")].some(c => c.textContent.includes("(muted)"))`)

	// The participant shares its screen (a second video track, in a slot asked for with
	// publish): the user's page shows it beside the camera, then drops it when sharing stops.
	gesture := func(p *runtime.EvaluateParams) { yes := true; p.UserGesture = &yes }
	if _, err := chromedp.Run(partCtx, chromedp.Evaluate[bool](frame+`.document.getElementById("screen").click() === undefined`, gesture)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, userCtx, "the shared screen on the user's page", `document.querySelectorAll("#remotes video").length === 2`)
	shot(userCtx, "user-session-screen.png")
	if _, err := chromedp.Run(partCtx, chromedp.Evaluate[bool](frame+`.document.getElementById("screen").click() === undefined`, gesture)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, userCtx, "the shared screen gone from the user's page", `document.querySelectorAll("#remotes video").length === 1`)
	shot(userCtx, "user-session.png")
	shot(partCtx, "participant-session.png")

	// The clinician removes the participant (its page waits again), then invites it back from
	// the people online (it joins again and both see each other).
	click := func(ctx context.Context, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js+`.click() === undefined`, gesture)); err != nil {
			t.Fatal(err)
		}
	}
	waitJS(t, userCtx, "the participant's remove button", `document.querySelector('#peopleList button[aria-label^="Remove Participant #1"]') !== null`)
	click(userCtx, `document.querySelector('#peopleList button[aria-label^="Remove Participant #1"]')`)
	waitJS(t, partCtx, "removed participant back to waiting", `document.body.dataset.state === "waiting" && document.getElementById("mainview").hidden`)
	waitJS(t, userCtx, "the removed participant gone from the user's page", `document.querySelectorAll("#remotes video").length === 0`)
	click(userCtx, `document.getElementById("invite")`)
	waitJS(t, userCtx, "participant 1 listed to invite", `document.querySelector('#inviteList button[aria-label="Invite Participant #1"]') !== null`)
	shot(userCtx, "user-invite.png")
	click(userCtx, `document.querySelector('#inviteList button[aria-label="Invite Participant #1"]')`)
	click(userCtx, `document.getElementById("inviteClose")`)
	waitJS(t, partCtx, "participant joined again", `document.body.dataset.state === "in-session" && `+frame+`.teraSession && `+frame+`.teraSession.state === "joined"`)
	waitJS(t, userCtx, "user decodes the participant's video again", `teraSession.framesDecoded().then(n => n > 0) && document.querySelectorAll("#remotes video").length === 1`)
	shot(partCtx, "participant-session.png")

	// The user stops the session: both pages end, the participant's waits again.
	if err := chromedp.Do(userCtx, chromedp.Click(chromedp.ID("stop")), chromedp.Click(chromedp.ID("stopConfirm"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, userCtx, "user's page ended", `teraSession.state === "ended"`)
	waitJS(t, partCtx, "participant back to waiting", `document.body.dataset.state === "waiting" && document.getElementById("mainview").hidden`)
	shot(userCtx, "user-ended.png")
	shot(partCtx, "participant-ended.png")

	code, body = call(t, http.MethodGet, f.URL+"/api/user/sessions?session_uuid="+sessionUUID, admin, nil)
	var sessions []map[string]any
	if code != 200 || json.Unmarshal(body, &sessions) != nil || len(sessions) != 1 {
		t.Fatalf("GET /api/user/sessions: %d %s", code, body)
	}
	s := sessions[0]
	if s["session_status"] != 2.0 {
		t.Errorf("session_status %v, want 2 (completed)", s["session_status"])
	}
	if d, _ := s["session_duration"].(float64); d <= 0 {
		t.Errorf("session_duration %v, want > 0", s["session_duration"])
	}
	t.Logf("session completed: status %v, duration %v s; screenshots in %s", s["session_status"], s["session_duration"], shots)
}

// waitJS evaluates expr (a value or a promise) until it is true. Navigation and pages not yet
// loaded are retried; the test's context bounds the wait.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var last error
	// A safety net against a stuck page, not a measure.
	bound := time.After(3 * time.Minute)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(async () => { try { return !!(await (`+expr+`)); } catch (e) { return false; } })()`, chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error %v)", what, ctx.Err(), last)
		case <-bound:
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" +
				performance.getEntriesByType("resource").map(r => r.name + " " + r.responseStatus).join("\n") + "\n" +
				document.documentElement.outerHTML.slice(0, 3000)`))
			cancel()
			t.Fatalf("waiting for %s: not within 3 min (last error %v); page:\n%s", what, last, page)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// call sends a request with a user token and a JSON body.
func call(t *testing.T, method, u, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "OpenTera "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// consoleLog keeps what the pages print, for a failed test's log.
type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) listen(ctx context.Context, who string) {
	_ = chromedp.Listen(ctx, func(ev any) {
		var line string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			line = fmt.Sprintf("%s %s: %s", who, e.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			line = fmt.Sprintf("%s exception: %s %s:%d", who, d.Text, d.URL, d.LineNumber)
			if d.Exception != nil {
				line += " " + d.Exception.Description
			}
		default:
			return
		}
		c.mu.Lock()
		c.lines = append(c.lines, line)
		c.mu.Unlock()
	})
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}
