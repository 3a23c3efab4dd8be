package login

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

func parsePages() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/*.html")
}

type pageData struct {
	Title, Server, Error, AuthCode, OIDC string
	QRCode, Secret                       string
	Name, UserUUID, Token                string
}

func (s *Service) render(w http.ResponseWriter, code int, name string, d pageData) {
	d.Server = s.o.ServerName
	if s.oidc != nil {
		d.OIDC = s.oidc.o.DisplayName
	}
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, d); err != nil {
		s.log.Error("render login page", "page", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) pageLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", pageData{Title: "Sign in", AuthCode: r.URL.Query().Get("auth_code")})
}

func (s *Service) pageLogin(w http.ResponseWriter, r *http.Request) {
	authCode := r.PostFormValue("auth_code")
	_, p, err := s.v.VerifyPassword(r.Context(), authn.KindUser, r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		var ae *authn.Error
		if !errors.As(err, &ae) {
			s.internal(w, r, err)
			return
		}
		s.failed(r, typePassword, authn.KindUser, err)
		msg := "Invalid username or password"
		if ae.Reason == authn.ReasonTooManyAttempts {
			msg = "Too many failed attempts; try again in a few minutes"
		}
		s.render(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: msg, AuthCode: authCode})
		return
	}
	s.pageNext(w, r, p, "", &loginSession{UserUUID: p.UUID, AuthCode: authCode})
}

// pageNext sends the browser to the next step of its login, or signs it in.
func (s *Service) pageNext(w http.ResponseWriter, r *http.Request, p *authn.Principal, id string, ls *loginSession) {
	ctx := r.Context()
	next := ""
	switch {
	case p.ForcePasswordChange && ls.Stage != stageOIDC:
		ls.Stage, next = stagePasswordChange, "/login_change_password"
	case p.TwoFA && (!p.TwoFAOTP || p.OTPSecret == ""):
		ls.Stage, next = stage2FASetup, "/login_setup_2fa"
	case p.TwoFA && ls.Stage != stage2FADone:
		ls.Stage, next = stage2FA, "/login_validate_2fa"
	}
	if next != "" {
		if _, err := s.saveSession(ctx, w, r, id, ls); err != nil {
			s.internal(w, r, err)
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	reply, err := s.userTokenReply(ctx, r, p, false, ls.AuthCode, nil)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.endSession(ctx, w, id)
	var token, redirect string
	for _, e := range reply {
		switch e.k {
		case "user_token":
			token, _ = e.v.(string)
		case "redirect_url":
			redirect, _ = e.v.(string)
		}
	}
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "done", pageData{Title: "Signed in", Name: p.Name, UserUUID: p.UUID, Token: token})
}

// pageSession returns the login in progress at one of the stages, or sends the browser back to
// /login.
func (s *Service) pageSession(w http.ResponseWriter, r *http.Request, stage string) (string, *loginSession, *authn.Principal) {
	id, ls, err := s.loadSession(r.Context(), r)
	if err != nil {
		s.internal(w, r, err)
		return "", nil, nil
	}
	if ls == nil || ls.Stage != stage {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return "", nil, nil
	}
	p, err := s.v.Dir.ByUUID(r.Context(), authn.KindUser, ls.UserUUID)
	if err != nil {
		s.internal(w, r, err)
		return "", nil, nil
	}
	if p == nil || !p.Enabled {
		s.endSession(r.Context(), w, id)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return "", nil, nil
	}
	return id, ls, p
}

func (s *Service) pageStage(stage, page, title string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, _, p := s.pageSession(w, r, stage); p != nil {
			s.render(w, http.StatusOK, page, pageData{Title: title})
		}
	}
}

func (s *Service) pageValidate2FA(w http.ResponseWriter, r *http.Request) {
	id, ls, p := s.pageSession(w, r, stage2FA)
	if p == nil {
		return
	}
	ok, err := s.checkOTP(r.Context(), p, p.OTPSecret, r.PostFormValue("otp_code"))
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) {
			s.failed(r, typePassword, authn.KindUser, err)
			s.render(w, http.StatusForbidden, "validate_2fa", pageData{Title: "Two-factor authentication", Error: "Too many attempts; try again later"})
			return
		}
		s.internal(w, r, err)
		return
	}
	if !ok {
		s.render(w, http.StatusUnauthorized, "validate_2fa", pageData{Title: "Two-factor authentication", Error: "Invalid code"})
		return
	}
	ls.Stage = stage2FADone
	s.pageNext(w, r, p, id, ls)
}

func (s *Service) pageSetup2FAForm(w http.ResponseWriter, r *http.Request) {
	id, ls, p := s.pageSession(w, r, stage2FASetup)
	if p == nil {
		return
	}
	secret, qr, err := s.newOTPKey(p.Name)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ls.PendingSecret = secret
	if _, err := s.saveSession(r.Context(), w, r, id, ls); err != nil {
		s.internal(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "setup_2fa", pageData{Title: "Set up 2FA", QRCode: qr, Secret: secret})
}

func (s *Service) pageSetup2FA(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ls, p := s.pageSession(w, r, stage2FASetup)
	if p == nil {
		return
	}
	if ls.PendingSecret == "" {
		http.Redirect(w, r, "/login_setup_2fa", http.StatusSeeOther)
		return
	}
	ok, err := s.checkOTP(ctx, p, ls.PendingSecret, r.PostFormValue("otp_code"))
	if err != nil || !ok {
		if err != nil {
			var ae *authn.Error
			if !errors.As(err, &ae) {
				s.internal(w, r, err)
				return
			}
		}
		http.Redirect(w, r, "/login_setup_2fa", http.StatusSeeOther)
		return
	}
	if _, err := s.db.Exec(ctx, `UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true, user_2fa_otp_secret = $2
		WHERE id_user = $1`, p.ID, ls.PendingSecret); err != nil {
		s.internal(w, r, err)
		return
	}
	p.TwoFA, p.TwoFAOTP, p.OTPSecret = true, true, ls.PendingSecret
	ls.PendingSecret, ls.Stage = "", stage2FADone
	s.pageNext(w, r, p, id, ls)
}

func (s *Service) pageChangePassword(w http.ResponseWriter, r *http.Request) {
	id, ls, p := s.pageSession(w, r, stagePasswordChange)
	if p == nil {
		return
	}
	newPw, confirm := r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	if newPw != confirm {
		s.render(w, http.StatusBadRequest, "change_password", pageData{Title: "Change password", Error: "The passwords do not match"})
		return
	}
	if err := store.SetUserPassword(r.Context(), s.db, int32(p.ID), newPw); err != nil {
		var pe *store.PasswordPolicyError
		if errors.As(err, &pe) {
			s.render(w, http.StatusBadRequest, "change_password", pageData{Title: "Change password", Error: pe.Message})
			return
		}
		s.internal(w, r, err)
		return
	}
	p.ForcePasswordChange = false
	s.pageNext(w, r, p, id, ls)
}
