package email

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/wneessen/go-mail"
	"google.golang.org/protobuf/types/known/structpb"

	emailv1 "github.com/tera-health/tera/pkg/api/tera/email/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/pyjson"
)

// uuidList reads a uuid or an array of uuids (OpenTera accepts both).
func uuidList(v *structpb.Value, name string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return nil, nil
	case *structpb.Value_StringValue:
		return []string{k.StringValue}, nil
	case *structpb.Value_ListValue:
		var out []string
		for _, e := range k.ListValue.GetValues() {
			s, ok := e.GetKind().(*structpb.Value_StringValue)
			if !ok {
				return nil, apierr.InvalidArgument(name + ": must be a uuid or an array of uuids")
			}
			out = append(out, s.StringValue)
		}
		return out, nil
	}
	return nil, apierr.InvalidArgument(name + ": must be a uuid or an array of uuids")
}

// variables reads body_variables: {"name": value} (what OpenTera's code accepts) or
// [{"name": …, "value": …}] (what its schema documents).
func variables(v *structpb.Value) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	bad := apierr.InvalidArgument(`body_variables: must be {"name": "value", …} or [{"name": …, "value": …}, …]`)
	out := map[string]string{}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return nil, nil
	case *structpb.Value_StructValue:
		for name, val := range k.StructValue.GetFields() {
			out[name] = pyStr(val)
		}
	case *structpb.Value_ListValue:
		for _, e := range k.ListValue.GetValues() {
			f := e.GetStructValue().GetFields()
			name, ok := f["name"].GetKind().(*structpb.Value_StringValue)
			if !ok {
				return nil, bad
			}
			out[name.StringValue] = pyStr(f["value"])
		}
	default:
		return nil, bad
	}
	return out, nil
}

// pyStr is Python's str() of a JSON value, as string.Template applies it.
func pyStr(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f == float64(int64(f)) && f < 1e16 && f > -1e16 {
			return fmt.Sprintf("%d", int64(f))
		}
		return pyjson.FloatRepr(f)
	case *structpb.Value_BoolValue:
		if k.BoolValue {
			return "True"
		}
		return "False"
	case nil, *structpb.Value_NullValue:
		return "None"
	}
	b, _ := v.MarshalJSON()
	return string(b)
}

// placeholder is string.Template's pattern: $$, $name, ${name} (ASCII identifiers).
var placeholder = regexp.MustCompile(`\$(?:(\$)|([_A-Za-z][_A-Za-z0-9]*)|\{([_A-Za-z][_A-Za-z0-9]*)\})`)

// safeSubstitute is Python's string.Template(s).safe_substitute(vars): unknown placeholders
// and lone dollars stay as they are.
func safeSubstitute(s string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sm := placeholder.FindStringSubmatch(m)
		if sm[1] != "" {
			return "$"
		}
		name := sm[2] + sm[3]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// recipients returns the addresses of the principals named by uuid, and whether every one of
// them is accessible: uuids come from the client, accessibility from the SQL rules.
func recipients(ctx context.Context, tx pgx.Tx, f access.Fragment, table, uuidCol, emailCol, idCol string, uuids []string) ([]string, bool, error) {
	if len(uuids) == 0 {
		return nil, true, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+uuidCol+`, coalesce(`+emailCol+`, '') FROM core.`+table+`
		 WHERE `+uuidCol+` = ANY(@uuids) AND deleted_at IS NULL AND `+idCol+` IN (`+f.SQL+`)`,
		f.With(pgx.NamedArgs{"uuids": uuids}))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	found := map[string]bool{}
	var emails []string
	for rows.Next() {
		var u, e string
		if err := rows.Scan(&u, &e); err != nil {
			return nil, false, err
		}
		found[u] = true
		if e != "" {
			emails = append(emails, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	for _, u := range uuids {
		if !found[u] {
			return nil, false, nil
		}
	}
	return emails, true, nil
}

func (s *api) SendEmail(ctx context.Context, r *emailv1.SendEmailRequest) (*emailv1.SendEmailResponse, error) {
	c := authn.FromContext(ctx)
	users, err := uuidList(r.UserUuid, "user_uuid")
	if err != nil {
		return nil, err
	}
	parts, err := uuidList(r.ParticipantUuid, "participant_uuid")
	if err != nil {
		return nil, err
	}
	vars, err := variables(r.BodyVariables)
	if err != nil {
		return nil, err
	}
	var j job
	// Access to every recipient and to the template is checked in the transaction that
	// queues the message.
	err = pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		sc := access.For(access.FromAuthn(c))
		userEmails, ok, err := recipients(ctx, tx, sc.Users(), "t_users", "user_uuid", "user_email", "id_user", users)
		if err != nil {
			return err
		}
		if !ok {
			return apierr.Forbidden("At least one user is not accessible")
		}
		partEmails, ok, err := recipients(ctx, tx, sc.Participants(), "t_participants", "participant_uuid", "participant_email", "id_participant", parts)
		if err != nil {
			return err
		}
		if !ok {
			return apierr.Forbidden("At least one participant is not accessible")
		}
		to := append(userEmails, partEmails...)
		if len(to) == 0 {
			return apierr.InvalidArgument("Missing email address")
		}
		if r.IdTemplate != nil && r.Body != nil {
			return apierr.InvalidArgument("Can't specify both a template and an email body")
		}
		var body string
		switch {
		case r.IdTemplate != nil:
			t, err := s.templateByID(ctx, tx, *r.IdTemplate)
			if err != nil {
				return err
			}
			// Sending with a global template is for superadmins (OpenTera); with a site or
			// project one, for those who can read it.
			ok := t != nil
			if ok && t.IdSite == nil && t.IdProject == nil {
				ok = c.Superadmin
			} else if ok {
				if ok, err = s.canRead(ctx, tx, c, t); err != nil {
					return err
				}
			}
			if !ok {
				return apierr.Forbidden("Forbidden")
			}
			body = t.EmailTemplate
		case r.Body != nil:
			body = *r.Body
		default:
			return apierr.InvalidArgument("Missing template ID or body text")
		}
		if vars != nil {
			body = safeSubstitute(body, vars)
		}
		subject := "(No subject)"
		if r.Subject != nil {
			subject = *r.Subject
		}
		var replyTo, name string
		if err := tx.QueryRow(ctx, `SELECT coalesce(user_email, ''), user_firstname || ' ' || user_lastname FROM core.t_users WHERE id_user = $1`,
			c.ID).Scan(&replyTo, &name); err != nil {
			return err
		}
		if replyTo == "" {
			return apierr.InvalidArgument("User doesn't have any email address set")
		}
		// Addresses the message could not carry are the request's fault, found now rather
		// than by the queue.
		probe := mail.NewMsg()
		if err := probe.To(to...); err != nil {
			return apierr.InvalidArgument("Invalid recipient address: " + err.Error())
		}
		if err := probe.ReplyTo(replyTo); err != nil {
			return apierr.InvalidArgument("Invalid sender address: " + err.Error())
		}
		// Queued as claimed by this request (attempts 1, leased): the worker leaves it alone
		// while the request delivers it, and takes it over if this process dies first.
		j, err = scanJob(tx.QueryRow(ctx, `
			INSERT INTO email.queue (message_id, id_user, sender_name, reply_to, recipients, subject, body_html, attempts, next_attempt_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, now() + $8 * interval '1 second')
			RETURNING `+jobColumns, s.messageID(), c.ID, name, replyTo, to, subject, body, lease.Seconds()), s.o.Sender)
		return err
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	sendErr := s.mailer.send(context.WithoutCancel(ctx), j)
	if errors.Is(sendErr, errUnreachable) {
		// The caller is told at once, as OpenTera does, and keeps the decision to retry;
		// keeping the message queued as well would send it twice.
		s.m.unreachable.Inc()
		s.o.Log.Warn("SMTP server unreachable", "err", sendErr)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := s.o.DB.Exec(dctx, `DELETE FROM email.queue WHERE id = $1`, j.id); err != nil {
			return nil, s.dbError(ctx, err)
		}
		return nil, apierr.Unavailable("Can't connect to SMTP server")
	}
	if err := s.record(context.WithoutCancel(ctx), j, sendErr); err != nil {
		s.o.Log.Warn("email outcome not recorded; the message will be tried again after its lease", "message_id", j.messageID, "err", err)
	}
	if sendErr != nil && !isTemporary(sendErr) {
		return nil, apierr.Internal("The SMTP server refused the email: " + sendErr.Error())
	}
	return &emailv1.SendEmailResponse{Result: structpb.NewNumberValue(200)}, nil
}

// messageID is a unique Message-ID in the sender's domain.
func (s *Service) messageID() string {
	domain := "tera"
	if i := strings.LastIndex(s.o.Sender, "@"); i >= 0 {
		domain = s.o.Sender[i+1:]
	}
	return uuid.NewString() + "@" + domain
}

func (s *Service) dbError(ctx context.Context, err error) error {
	if err == nil || apierr.IsStatus(err) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	s.o.Log.ErrorContext(ctx, "email: database error", "err", err)
	return apierr.Internal("Database error")
}
