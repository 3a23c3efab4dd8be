package login_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tera-health/tera/services/internal/testenv/browser"
)

// The login pages in a real browser (Debian's chromium, headless): a 2FA user logs in, lands on
// the 2FA step, enters the code and is signed in; a plain user is signed in at once.
func TestLoginPagesInChromium(t *testing.T) {
	browser.Require(t)
	e := newEnv(t)
	base := e.replica()
	key, _ := totp.Generate(totp.GenerateOpts{Issuer: "t", AccountName: "user4"})
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true, user_2fa_otp_secret = $1 WHERE user_username = 'user4'`, key.Secret())

	ctx := browser.New(t, 90*time.Second, chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("allow-loopback-in-peer-connection", true))

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
