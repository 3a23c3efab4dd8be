package login_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

const chromiumPath = "/usr/bin/chromium"

// The login pages in a real browser (Debian's chromium, headless): a 2FA user logs in, lands on
// the 2FA step, enters the code and is signed in; a plain user is signed in at once.
func TestLoginPagesInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("TERA_REQUIRE_BROWSER") != "" {
			t.Fatalf("chromium missing: run hack/install-chromium.sh")
		}
		t.Skip("chromium not installed (hack/install-chromium.sh)")
	}
	e := newEnv(t)
	base := e.replica()
	key, _ := totp.Generate(totp.GenerateOpts{Issuer: "t", AccountName: "user4"})
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true, user_2fa_otp_secret = $1 WHERE user_username = 'user4'`, key.Secret())

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("allow-loopback-in-peer-connection", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "user4"),
		chromedp.SendKeys(chromedp.ID("password"), "user4"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("otp_code")),
	)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/login_validate_2fa") {
		t.Fatalf("after password: %q %v", loc, err)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("otp_code"), code), chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatal(err)
	}
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("fullname")))
	if err != nil || name != "No Access User!" {
		t.Fatalf("signed in as %q %v", name, err)
	}
	token, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("tera_token")`))
	if err != nil || strings.Count(token, ".") != 2 {
		t.Fatalf("token in session storage: %q %v", token, err)
	}

	// Wrong password: the page says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"), chromedp.SendKeys(chromedp.ID("password"), "nope"),
		chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.ID("error"))); err != nil {
		t.Fatal(err)
	}
	// A user without 2FA is signed in at once.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"), chromedp.SendKeys(chromedp.ID("password"), "admin"),
		chromedp.Click(chromedp.ID("submit")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatal(err)
	}
}
