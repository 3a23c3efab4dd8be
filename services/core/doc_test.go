package core_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tera-health/tera/pkg/server/docui"
	"github.com/tera-health/tera/services/internal/testenv/browser"
	"github.com/tera-health/tera/services/internal/version"
)

// The document /doc serves: Tera's title and build version, operations grouped by OpenTera's
// surfaces, every operation declaring the schemes it accepts, nothing test-only.
func TestDocDocument(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.base + "/doc/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Info struct{ Title, Version string }
		Tags []struct{ Name string }
		// Scheme name → definition.
		SecurityDefinitions map[string]struct{ Type, In, Name string }
		Paths               map[string]map[string]struct {
			Tags     []string
			Security []map[string][]string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Title != "Tera API" || doc.Info.Version != version.Version {
		t.Errorf("info: %+v, want Tera API %s", doc.Info, version.Version)
	}
	if len(doc.Tags) == 0 || doc.Tags[0].Name != "user" {
		t.Errorf("tags: %+v, want the user surface first", doc.Tags)
	}
	for name, want := range map[string]string{docui.SchemeBasic: "basic", docui.SchemeOpenTera: "apiKey", docui.SchemeBearer: "apiKey"} {
		if d := doc.SecurityDefinitions[name]; d.Type != want || (want == "apiKey" && (d.In != "header" || d.Name != "Authorization")) {
			t.Errorf("scheme %s: %+v", name, d)
		}
	}
	ops := 0
	for path, item := range doc.Paths {
		if strings.HasPrefix(path, "/api/testing/") {
			t.Errorf("test-only path %s in the served document", path)
		}
		for method, op := range item {
			ops++
			if strings.HasPrefix(path, "/api/user/") && (len(op.Tags) != 1 || op.Tags[0] != "user") {
				t.Errorf("%s %s tags %v", method, path, op.Tags)
			}
			if len(op.Security) < 2 {
				t.Errorf("%s %s declares security %v", method, path, op.Security)
			}
		}
	}
	if ops < 40 {
		t.Errorf("only %d operations documented", ops)
	}
}

// /doc in a real browser: the title, then "Authorize" with a bare token and "Try it out" on
// GET /api/user/sites, which only answers 200 if the page sent "Authorization: OpenTera <token>".
func TestDocPageTryItOutInChromium(t *testing.T) {
	browser.Require(t)
	e := newEnv(t)
	token := strings.TrimPrefix(e.auth("admin/token"), "OpenTera ")

	ctx := browser.New(t, 120*time.Second)

	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/doc"), chromedp.WaitVisible(chromedp.CSS(".info .title"))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".info .title")))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(title), "Tera API") || !strings.Contains(title, version.Version) {
		t.Fatalf("page title %q (%v), want Tera API %s", title, err, version.Version)
	}

	// XPath (a plain string is a DOM search): the OpenTera scheme's box in the Authorize dialog.
	const scheme = `//div[contains(@class,"auth-container")][.//h4[contains(., "OpenTera")]]`
	const op = `#operations-user-SiteService_GetSites`
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(".auth-wrapper .authorize")),
		chromedp.WaitVisible(scheme+`//input`),
		chromedp.SendKeys(scheme+`//input`, token),
		chromedp.Click(scheme+`//button[contains(@class,"authorize")]`),
		chromedp.Click(chromedp.CSS(".btn-done")),
		chromedp.WaitNotPresent(chromedp.CSS(".dialog-ux")),
		chromedp.Click(chromedp.CSS("#operations-tag-user")),
		chromedp.Click(chromedp.CSS(op+" .opblock-summary")),
		chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.WaitVisible(chromedp.CSS(op+" .execute")),
		chromedp.Click(chromedp.CSS(op+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")),
	); err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")))
	if err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_description")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(status), "200") || !strings.Contains(body, "Default Site") {
		t.Fatalf("Try it out: status %q body %q", status, body)
	}
}
