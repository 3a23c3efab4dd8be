package email

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	emailv1 "github.com/tera-health/tera/pkg/api/tera/email/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
)

const templateColumns = "id_email_template, id_site, id_project, email_template_key, email_template, email_template_language"

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func scanTemplates(rows pgx.Rows) ([]*emailv1.EmailTemplate, error) {
	defer rows.Close()
	var out []*emailv1.EmailTemplate
	for rows.Next() {
		t := &emailv1.EmailTemplate{}
		var site, project *int32
		if err := rows.Scan(&t.IdEmailTemplate, &site, &project, &t.EmailTemplateKey, &t.EmailTemplate, &t.EmailTemplateLanguage); err != nil {
			return nil, err
		}
		if site != nil {
			t.IdSite = wrapperspb.Int32(*site)
		}
		if project != nil {
			t.IdProject = wrapperspb.Int32(*project)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Service) templates(ctx context.Context, q querier, where string, args ...any) ([]*emailv1.EmailTemplate, error) {
	rows, err := q.Query(ctx, "SELECT "+templateColumns+" FROM email.t_email_templates WHERE "+where+" ORDER BY id_email_template", args...)
	if err != nil {
		return nil, err
	}
	return scanTemplates(rows)
}

// templateByID returns the template, or nil.
func (s *Service) templateByID(ctx context.Context, q querier, id int32) (*emailv1.EmailTemplate, error) {
	ts, err := s.templates(ctx, q, "id_email_template = $1", id)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return ts[0], nil
}

// can reports the caller's right on a template's scope: reading needs access to its site or
// project (any role), writing their admin role; global templates are read by every user and
// written by superadmins.
func (s *Service) can(ctx context.Context, q querier, c *authn.Caller, site, project *wrapperspb.Int32Value, write bool) (bool, error) {
	sc := access.For(access.FromAuthn(c))
	if write {
		sc = sc.AdminOnly()
	}
	switch {
	case project != nil:
		return sc.Can(ctx, q, access.Projects, project.GetValue())
	case site != nil:
		return sc.Can(ctx, q, access.Sites, site.GetValue())
	}
	return !write || c.Superadmin, nil
}

func (s *Service) canRead(ctx context.Context, q querier, c *authn.Caller, t *emailv1.EmailTemplate) (bool, error) {
	return s.can(ctx, q, c, t.IdSite, t.IdProject, false)
}

// byKey is OpenTera's lookup of a key: in the project, else in the project's site, else in
// the site, else the global template, flagged inherited.
func (s *Service) byKey(ctx context.Context, q querier, key, lang string, site, project int32) (*emailv1.EmailTemplate, error) {
	first := func(where string, args ...any) (*emailv1.EmailTemplate, error) {
		ts, err := s.templates(ctx, q, "email_template_key = $1 AND email_template_language = $2 AND "+where, append([]any{key, lang}, args...)...)
		if err != nil || len(ts) == 0 {
			return nil, err
		}
		return ts[0], nil
	}
	if site == 0 && project == 0 {
		return first("true")
	}
	if project != 0 {
		t, err := first("id_project = $3", project)
		if t != nil || err != nil {
			return t, err
		}
		err = q.QueryRow(ctx, `SELECT id_site FROM core.t_projects WHERE id_project = $1 AND deleted_at IS NULL`, project).Scan(&site)
		if err == pgx.ErrNoRows {
			return nil, apierr.InvalidArgument("Invalid project")
		}
		if err != nil {
			return nil, err
		}
	}
	t, err := first("id_site = $3 AND id_project IS NULL", site)
	if t != nil || err != nil {
		return t, err
	}
	t, err = first("id_site IS NULL AND id_project IS NULL")
	if t != nil {
		t.Inherited = true
	}
	return t, err
}

func (s *api) GetTemplates(ctx context.Context, r *emailv1.GetTemplatesRequest) (*emailv1.GetTemplatesResponse, error) {
	c := authn.FromContext(ctx)
	lang := "en"
	if r.Lang != nil {
		lang = *r.Lang
	}
	var out []*emailv1.EmailTemplate
	forbidden := apierr.Forbidden("Forbidden")
	err := pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		switch {
		case r.IdTemplate != 0:
			t, err := s.templateByID(ctx, tx, r.IdTemplate)
			if err != nil {
				return err
			}
			if t == nil {
				return forbidden
			}
			if ok, err := s.canRead(ctx, tx, c, t); err != nil || !ok {
				return or(err, forbidden)
			}
			out = []*emailv1.EmailTemplate{t}
		case r.Key != "":
			t, err := s.byKey(ctx, tx, r.Key, lang, r.IdSite, r.IdProject)
			if err != nil || t == nil {
				return err
			}
			if ok, err := s.canRead(ctx, tx, c, t); err != nil || !ok {
				return or(err, forbidden)
			}
			out = []*emailv1.EmailTemplate{t}
		case r.IdSite != 0:
			if ok, err := s.can(ctx, tx, c, wrapperspb.Int32(r.IdSite), nil, false); err != nil || !ok {
				return or(err, forbidden)
			}
			ts, err := s.templates(ctx, tx, "id_site = $1 AND email_template_language = $2", r.IdSite, lang)
			out = ts
			return err
		case r.IdProject != 0:
			// OpenTera filters this by id_site = id_project (a bug); the project's own
			// templates are meant.
			if ok, err := s.can(ctx, tx, c, nil, wrapperspb.Int32(r.IdProject), false); err != nil || !ok {
				return or(err, forbidden)
			}
			ts, err := s.templates(ctx, tx, "id_project = $1 AND email_template_language = $2", r.IdProject, lang)
			out = ts
			return err
		default:
			return apierr.InvalidArgument("Missing identifying parameter")
		}
		return nil
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &emailv1.GetTemplatesResponse{Templates: out}, nil
}

func or(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// templateFields are the keys of {"email_template": {…}}; "inherited" is output only and
// ignored, as OpenTera's from_json does.
var templateFields = map[string]bool{"id_email_template": true, "id_site": true, "id_project": true, "email_template_key": true,
	"email_template": true, "email_template_language": true, "inherited": true}

// templateBody is a parsed {"email_template": {…}}: nil pointers are absent keys.
type templateBody struct {
	id              int32
	site, project   **wrapperspb.Int32Value
	key, text, lang *string
}

func parseTemplate(st *structpb.Struct) (*templateBody, error) {
	if st == nil {
		return nil, apierr.InvalidArgument("Missing template")
	}
	f := st.GetFields()
	var unknown []string
	for k := range f {
		if !templateFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, apierr.InvalidArgument("Invalid or missing data: unknown field " + strings.Join(unknown, ", "))
	}
	b := &templateBody{}
	id, ok := f["id_email_template"]
	if !ok {
		return nil, apierr.InvalidArgument("Missing id_email_template")
	}
	n, err := intOf(id, "id_email_template", false)
	if err != nil {
		return nil, err
	}
	b.id = n.GetValue()
	for name, dst := range map[string]***wrapperspb.Int32Value{"id_site": &b.site, "id_project": &b.project} {
		v, ok := f[name]
		if !ok {
			continue
		}
		n, err := intOf(v, name, true)
		if err != nil {
			return nil, err
		}
		*dst = &n
	}
	for name, dst := range map[string]**string{"email_template_key": &b.key, "email_template": &b.text, "email_template_language": &b.lang} {
		v, ok := f[name]
		if !ok {
			continue
		}
		sv, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, apierr.InvalidArgument(fmt.Sprintf("Invalid or missing data: %s must be a string", name))
		}
		*dst = &sv.StringValue
	}
	return b, nil
}

// intOf reads an integer id; 0 and null are "none" when nullable (nil result).
func intOf(v *structpb.Value, name string, nullable bool) (*wrapperspb.Int32Value, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		if nullable {
			return nil, nil
		}
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f == math.Trunc(f) && f >= 0 && f <= math.MaxInt32 {
			if nullable && f == 0 {
				return nil, nil
			}
			return wrapperspb.Int32(int32(f)), nil
		}
	}
	return nil, apierr.InvalidArgument(fmt.Sprintf("Invalid or missing data: %s must be an integer id", name))
}

func (s *api) PostTemplate(ctx context.Context, r *emailv1.PostTemplateRequest) (*emailv1.PostTemplateResponse, error) {
	c := authn.FromContext(ctx)
	b, err := parseTemplate(r.EmailTemplate)
	if err != nil {
		return nil, err
	}
	if b.site != nil && b.project != nil && *b.site != nil && *b.project != nil {
		return nil, apierr.InvalidArgument("Can't specify both site and project for template")
	}
	forbidden := apierr.Forbidden("Forbidden")
	var out *emailv1.EmailTemplate
	err = pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		t := &emailv1.EmailTemplate{EmailTemplateLanguage: "en"}
		if b.id > 0 {
			old, err := s.templateByID(ctx, tx, b.id)
			if err != nil {
				return err
			}
			if old == nil {
				return forbidden
			}
			// The template as it is must be administered by the caller…
			if ok, err := s.can(ctx, tx, c, old.IdSite, old.IdProject, true); err != nil || !ok {
				return or(err, forbidden)
			}
			t = old
		}
		if b.site != nil {
			t.IdSite = *b.site
		}
		if b.project != nil {
			t.IdProject = *b.project
		}
		if t.IdSite != nil && t.IdProject != nil {
			return apierr.InvalidArgument("Can't specify both site and project for template")
		}
		for _, f := range []struct {
			src *string
			dst *string
		}{{b.key, &t.EmailTemplateKey}, {b.text, &t.EmailTemplate}, {b.lang, &t.EmailTemplateLanguage}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		// … and so must the template as it will be (OpenTera checks only the former; a site
		// admin could otherwise move a template into a site they do not administer).
		if ok, err := s.can(ctx, tx, c, t.IdSite, t.IdProject, true); err != nil || !ok {
			return or(err, forbidden)
		}
		if b.id <= 0 {
			var missing []string
			if b.key == nil {
				missing = append(missing, "email_template_key")
			}
			if b.text == nil {
				missing = append(missing, "email_template")
			}
			if len(missing) > 0 {
				return apierr.InvalidArgument(fmt.Sprintf("Missing fields: ['%s']", strings.Join(missing, "', '")))
			}
		}
		args := []any{intOrNil(t.IdSite), intOrNil(t.IdProject), t.EmailTemplateKey, t.EmailTemplate, t.EmailTemplateLanguage}
		q := `INSERT INTO email.t_email_templates (id_site, id_project, email_template_key, email_template, email_template_language)
			VALUES ($1, $2, $3, $4, $5) RETURNING ` + templateColumns
		if b.id > 0 {
			q = `UPDATE email.t_email_templates SET id_site = $1, id_project = $2, email_template_key = $3,
				email_template = $4, email_template_language = $5 WHERE id_email_template = $6 RETURNING ` + templateColumns
			args = append(args, t.IdEmailTemplate)
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		ts, err := scanTemplates(rows)
		if err != nil {
			return err
		}
		out = ts[0]
		return nil
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &emailv1.PostTemplateResponse{Template: out}, nil
}

func intOrNil(v *wrapperspb.Int32Value) any {
	if v == nil {
		return nil
	}
	return v.GetValue()
}

func (s *api) DeleteTemplate(ctx context.Context, r *emailv1.DeleteTemplateRequest) (*emailv1.DeleteTemplateResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	c := authn.FromContext(ctx)
	forbidden := apierr.Forbidden("Forbidden")
	err := pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+templateColumns+" FROM email.t_email_templates WHERE id_email_template = $1 FOR UPDATE", *r.Id)
		if err != nil {
			return err
		}
		ts, err := scanTemplates(rows)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return forbidden
		}
		if ok, err := s.can(ctx, tx, c, ts[0].IdSite, ts[0].IdProject, true); err != nil || !ok {
			return or(err, forbidden)
		}
		_, err = tx.Exec(ctx, `DELETE FROM email.t_email_templates WHERE id_email_template = $1`, *r.Id)
		return err
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &emailv1.DeleteTemplateResponse{Result: structpb.NewStringValue("")}, nil
}
