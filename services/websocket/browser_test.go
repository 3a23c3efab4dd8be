package websocket_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/testenv/browser"
)

// browserPage is a web client as OpenTera's (VideoRehabService's opentera_user_login.js and
// opentera_websockets.js): GET /api/user/login, keep websocket_url, `new WebSocket(url)`, and
// read each frame with JSON.parse, the event at message.events[i]. Every frame is listed, raw,
// with what the page understood of it, for the test to wait on.
const browserPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Tera websocket client</title></head>
<body><p id="state">logging in</p><ol id="frames"></ol>
<script>
function state(s) { document.getElementById("state").textContent = s; }
fetch("/api/user/login?with_websocket=true", {headers: {"Authorization": "Basic " + btoa("admin:admin")}})
  .then(r => { if (!r.ok) throw new Error("login " + r.status); return r.json(); })
  .then(reply => {
    sessionStorage.setItem("websocket_url", reply["websocket_url"]);
    const ws = new WebSocket(sessionStorage.getItem("websocket_url"));
    ws.onopen = () => { state("open"); sessionStorage.removeItem("websocket_url"); };
    ws.onclose = e => state("closed " + e.code);
    ws.onerror = () => state("error");
    ws.onmessage = evt => {
      const msg = JSON.parse(evt.data);
      for (const ev of msg.message.events) {
        const li = document.createElement("li");
        li.dataset.type = ev["@type"];
        li.dataset.event = ev["type"] || "";
        li.dataset.uuid = ev["userUuid"] || "";
        li.textContent = evt.data;
        document.getElementById("frames").appendChild(li);
      }
    };
  })
  .catch(e => state("failed: " + e.message));
</script></body></html>`

// A page in Chromium (Debian's, headless) logs in as admin with a websocket the way OpenTera's
// web clients do and receives, byte for byte as OpenTera prints it, the USER_CONNECTED frame of
// user4 connecting from another client. The page is served by a front (an ingress: same
// origin for the page, the login and the socket) that is also the site's public URL, so the
// page uses websocket_url as login gives it.
func TestWebClientInChromium(t *testing.T) {
	browser.Require(t)
	e := newEnv(t)
	var backend atomic.Pointer[httputil.ReverseProxy]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/client" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(browserPage))
			return
		}
		// ReverseProxy passes websocket upgrades through.
		backend.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e.publicURL = front.URL
	base := e.process("all")
	target, _ := url.Parse(base)
	backend.Store(httputil.NewSingleHostReverseProxy(target))
	f := e.fixture()

	// What follows waits on conditions only.
	ctx := browser.New(t, 4*time.Minute)

	own := `#frames li[data-event="USER_CONNECTED"][data-uuid="` + f.adminUUID + `"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(front.URL+"/client"), chromedp.WaitVisible(own)); err != nil {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		st, _ := chromedp.Run(sctx, chromedp.Text(chromedp.ID("state")))
		scancel()
		t.Fatalf("page's own USER_CONNECTED: %v (page state %q)", err, st)
	}
	if st, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("state"))); err != nil || st != "open" {
		t.Fatalf("page state %q %v", st, err)
	}

	// user4 connects from another client: the page's socket (registered: it got its own
	// CONNECTED) receives the event.
	u4 := mustDial(t, base, wsPath(t, base, "user", user4))
	u4.wantFrame(umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_CONNECTED, "No Access User!"))
	other := `#frames li[data-type="type.googleapis.com/opentera.protobuf.UserEvent"][data-event="USER_CONNECTED"][data-uuid="` + f.user4UUID + `"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(other)); err != nil {
		t.Fatalf("user4's USER_CONNECTED in the page: %v", err)
	}
	frame, err := chromedp.Run(ctx, chromedp.TextContent(other))
	if err != nil {
		t.Fatal(err)
	}
	(&socket{t: t}).checkFrame([]byte(frame), umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_CONNECTED, "No Access User!"))
}
