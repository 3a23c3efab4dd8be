package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/tera-health/tera/pkg/config"
)

// SMTP is the mail server the email target sends through (tera.yaml `email.smtp`).
type SMTP struct {
	// Host is the server's name; empty means no server: templates are served and every send
	// answers 503, as OpenTera does when SMTP is unreachable (tera dev runs so).
	Host string `json:"host" env:"TERA_SMTP_HOST"`
	// Port defaults to 465 with tls "implicit", 587 with "starttls", 25 otherwise.
	Port int `json:"port" env:"TERA_SMTP_PORT"`
	// TLS is "starttls" (required, the default), "opportunistic" (STARTTLS when offered),
	// "implicit" (TLS from the first byte, SMTPS) or "none".
	TLS string `json:"tls" env:"TERA_SMTP_TLS"`
	// CAFile is a PEM bundle trusted for the server's certificate instead of the system's.
	CAFile string `json:"ca_file"`
	// InsecureSkipVerify accepts any certificate (test servers only).
	InsecureSkipVerify bool `json:"insecure_skip_verify"`
	// Username enables authentication (PLAIN, LOGIN or CRAM-MD5, whichever the server offers).
	Username string `json:"username" env:"TERA_SMTP_USERNAME"`
	Password string `json:"password" env:"TERA_SMTP_PASSWORD" secret:"true"`
	// PasswordFile holds the password (a mounted Secret); it wins over Password.
	PasswordFile string `json:"password_file"`
	// Timeout bounds connecting and each command.
	Timeout config.Duration `json:"timeout"`
}

var tlsModes = []string{"starttls", "opportunistic", "implicit", "none"}

// Validate reports every problem at once.
func (c SMTP) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("email.smtp.port: %d is not a port", c.Port))
	}
	ok := c.TLS == ""
	for _, m := range tlsModes {
		ok = ok || c.TLS == m
	}
	if !ok {
		errs = append(errs, fmt.Errorf("email.smtp.tls: %q is not one of %s", c.TLS, strings.Join(tlsModes, ", ")))
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("email.smtp.ca_file: %w", err))
		}
	}
	if c.PasswordFile != "" {
		if _, err := os.Stat(c.PasswordFile); err != nil {
			errs = append(errs, fmt.Errorf("email.smtp.password_file: %w", err))
		}
	}
	if c.Timeout.D() < 0 {
		errs = append(errs, errors.New("email.smtp.timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// mailer builds one go-mail client per delivery: clients hold a connection and are not meant
// to be shared across concurrent sends.
type mailer struct {
	host string
	opts []mail.Option
}

func newMailer(c SMTP) (*mailer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.Timeout.D()
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	tc := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in for test servers
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email.smtp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email.smtp.ca_file %s: no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	opts := []mail.Option{mail.WithTimeout(timeout), mail.WithTLSConfig(tc)}
	port := c.Port
	switch c.TLS {
	case "", "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		port = cmp(port, 587)
	case "opportunistic":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
		port = cmp(port, 25)
	case "implicit":
		opts = append(opts, mail.WithSSL())
		port = cmp(port, 465)
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		port = cmp(port, 25)
	}
	opts = append(opts, mail.WithPort(port))
	if c.Username != "" {
		pw := c.Password
		if c.PasswordFile != "" {
			b, err := os.ReadFile(c.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("email.smtp.password_file: %w", err)
			}
			pw = strings.TrimSpace(string(b))
		}
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(c.Username), mail.WithPassword(pw))
	}
	return &mailer{host: c.Host, opts: opts}, nil
}

func cmp(port, def int) int {
	if port == 0 {
		return def
	}
	return port
}

// errUnreachable wraps failures to open a usable session: connect, TLS, authentication.
var errUnreachable = errors.New("SMTP server unreachable")

// isTemporary tells a failure worth retrying (no session, a 4xx answer) from a permanent one
// (a 5xx answer, a message that cannot be built).
func isTemporary(err error) bool {
	if errors.Is(err, errUnreachable) {
		return true
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.IsTemp()
	}
	return false
}

// send delivers one message. Errors wrapping errUnreachable mean no session could be opened.
func (m *mailer) send(ctx context.Context, j job) error {
	if m.host == "" {
		return fmt.Errorf("%w: email.smtp.host is not set", errUnreachable)
	}
	msg := mail.NewMsg()
	if err := msg.FromFormat(j.senderName, j.from); err != nil {
		return fmt.Errorf("from %q: %w", j.from, err)
	}
	if err := msg.ReplyTo(j.replyTo); err != nil {
		return fmt.Errorf("reply-to %q: %w", j.replyTo, err)
	}
	if err := msg.To(j.recipients...); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	msg.Subject(j.subject)
	msg.SetMessageIDWithValue(j.messageID)
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextHTML, j.body)
	c, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreachable, err)
	}
	defer func() { _ = c.CloseWithSMTPClient(conn) }()
	if err := c.SendWithSMTPClient(conn, msg); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return nil
}
