package core

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/seed"
)

// /api/user/participants

type participants struct {
	*Service
	corev1.UnimplementedParticipantServiceServer
}

// participantCols are read by scanParticipant; lastsession is the last column, NULL unless asked.
const participantCols = `p.id_participant, p.participant_uuid, p.participant_name, p.participant_username, p.participant_email,
	p.participant_token_enabled, p.participant_token, p.participant_lastonline, p.participant_enabled,
	p.participant_login_enabled, p.id_participant_group, p.id_project,
	pr.project_enabled, pr.id_site, pr.project_name, pr.project_description, st.site_name, g.participant_group_name`

const participantFrom = ` FROM core.t_participants p
	JOIN core.t_projects pr ON pr.id_project = p.id_project
	JOIN core.t_sites st ON st.id_site = pr.id_site
	LEFT JOIN core.t_participants_groups g ON g.id_participant_group = p.id_participant_group`

const lastSessionCol = `(SELECT max(se.session_start_datetime) FROM core.t_sessions_participants sp
	JOIN core.t_sessions se ON se.id_session = sp.id_session AND se.deleted_at IS NULL
	WHERE sp.id_participant = p.id_participant AND sp.deleted_at IS NULL)`

// participantForm says which variant of the JSON to build.
type participantForm struct {
	minimal, full, withSite, withLastSession bool
}

func scanParticipant(row pgx.Row, form participantForm) (*corev1.Participant, error) {
	p := &corev1.Participant{}
	var username, email, token, projectDesc, groupName *string
	var lastonline, lastsession *time.Time
	var group *int32
	var projectEnabled bool
	var site int32
	var projectName, siteName string
	err := row.Scan(&p.IdParticipant, &p.ParticipantUuid, &p.ParticipantName, &username, &email,
		&p.ParticipantTokenEnabled, &token, &lastonline, &p.ParticipantEnabled,
		&p.ParticipantLoginEnabled, &group, &p.IdProject,
		&projectEnabled, &site, &projectName, &projectDesc, &siteName, &groupName, &lastsession)
	if err != nil {
		return nil, err
	}
	p.ParticipantEmail = strValue(email)
	p.IdParticipantGroup = int32Value(group)
	if form.minimal {
		p.ParticipantLoginEnabled = nil
		return p, nil
	}
	p.ParticipantUsername = nullable(username)
	p.ParticipantToken = nullable(token)
	p.ParticipantLastonline = nullable(isoTime(lastonline))
	p.ParticipantProjectEnabled = &projectEnabled
	if form.withSite {
		p.IdSite = &site
	}
	if form.withLastSession {
		p.ParticipantLastsession = nullable(isoTime(lastsession))
	}
	if form.full {
		p.ParticipantProject = &corev1.Project{IdProject: p.IdProject, IdSite: site, ProjectName: projectName,
			ProjectEnabled: projectEnabled, ProjectDescription: strValue(projectDesc), SiteName: siteName}
		if group != nil && groupName != nil {
			p.ParticipantParticipantGroup = &corev1.ParticipantGroup{IdParticipantGroup: *group, IdProject: p.IdProject,
				ParticipantGroupName: *groupName, ProjectName: projectName}
		}
	}
	return p, nil
}

// isoTime formats like Python's isoformat() on an aware UTC datetime.
func isoTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	u := t.UTC()
	layout := "2006-01-02T15:04:05.000000+00:00"
	if u.Nanosecond()/1000 == 0 {
		layout = "2006-01-02T15:04:05+00:00"
	}
	s := u.Format(layout)
	return &s
}

func (s *participants) GetParticipants(ctx context.Context, r *corev1.GetParticipantsRequest) (*corev1.GetParticipantsResponse, error) {
	m := caller(ctx)
	if r.Id != 0 {
		r.IdParticipant = r.Id
	}
	if r.Uuid != "" {
		r.ParticipantUuid = r.Uuid
	}
	if r.IdParticipant == 0 && r.Username == "" && r.ParticipantUuid == "" && r.IdSite == 0 && r.IdProject == 0 &&
		r.IdGroup == 0 && r.IdSession == 0 && r.IdDevice == 0 && r.Name == "" && r.Enabled == nil && !r.List &&
		!r.Full && !r.NoGroup && !r.OrderbyRecents && r.Limit == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	f := m.acc.Projects()
	args := f.With(nil)
	var where string
	switch {
	case r.IdParticipant != 0:
		where, args["id"] = "p.id_participant = @id", r.IdParticipant
	case r.Username != "":
		where, args["username"] = "p.participant_username = @username", r.Username
	case r.ParticipantUuid != "":
		where, args["uuid"] = "p.participant_uuid = @uuid", r.ParticipantUuid
	case r.IdSite != 0:
		where, args["site"] = "pr.id_site = @site", r.IdSite
	case r.IdProject != 0:
		where, args["project"] = "p.id_project = @project", r.IdProject
	case r.IdGroup != 0:
		where, args["group"] = "p.id_participant_group = @group", r.IdGroup
	case r.IdDevice != 0:
		where = `p.id_participant IN (SELECT dp.id_participant FROM core.t_devices_participants dp
		                               WHERE dp.id_device = @device AND dp.deleted_at IS NULL)`
		args["device"] = r.IdDevice
	case r.IdSession != 0:
		where = `p.id_participant IN (SELECT sp.id_participant FROM core.t_sessions_participants sp
		                               WHERE sp.id_session = @session AND sp.deleted_at IS NULL)`
		args["session"] = r.IdSession
	case r.Name != "":
		where, args["name"] = "p.participant_name = @name", r.Name
	default:
		// Flags without a selector: nothing matched.
		respondNull(ctx)
		return &corev1.GetParticipantsResponse{}, nil
	}
	if r.Enabled != nil {
		where += " AND p.participant_enabled = @enabled"
		args["enabled"] = r.GetEnabled()
	}
	if r.NoGroup {
		where += " AND p.id_participant_group IS NULL"
	}
	form := participantForm{minimal: r.List, full: r.Full && !r.List}
	form.withSite = !r.List && r.IdParticipant != 0
	form.withLastSession = !r.List && (r.IdParticipant != 0 || (r.IdGroup != 0 && r.Username == "" && r.ParticipantUuid == "" && r.IdSite == 0 && r.IdProject == 0))
	last := "NULL::timestamptz"
	if form.withLastSession {
		last = lastSessionCol
	}
	order := "p.id_participant"
	if r.OrderbyRecents {
		order = "p.participant_lastonline DESC NULLS LAST, p.id_participant"
	}
	q := `SELECT ` + participantCols + `, ` + last + participantFrom + `
		WHERE p.deleted_at IS NULL AND p.id_project IN (` + f.SQL + `) AND ` + where + ` ORDER BY ` + order
	if r.Limit > 0 {
		q += " LIMIT @limit"
		args["limit"] = r.Limit
	}
	rows, err := s.db.Query(ctx, q, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.Participant, error) { return scanParticipant(row, form) })
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if len(out) == 0 {
		respondNull(ctx)
		return &corev1.GetParticipantsResponse{}, nil
	}
	if form.full {
		if err := s.addDevices(ctx, out); err != nil {
			return nil, err
		}
	}
	return &corev1.GetParticipantsResponse{Participants: out}, nil
}

// addDevices fills participant_devices (full form) in one query.
func (s *participants) addDevices(ctx context.Context, ps []*corev1.Participant) error {
	byID := map[int32]*corev1.Participant{}
	var list []int32
	for _, p := range ps {
		byID[p.IdParticipant] = p
		p.ParticipantDevices = &structpb.ListValue{}
		list = append(list, p.IdParticipant)
	}
	rows, err := s.db.Query(ctx, `SELECT dp.id_participant, d.id_device, d.device_uuid, d.device_name, d.id_device_type,
		       d.id_device_subtype, d.device_token, d.device_enabled, d.device_onlineable, d.device_config,
		       d.device_infos, d.device_notes, d.device_lastonline
		  FROM core.t_devices_participants dp JOIN core.t_devices d ON d.id_device = dp.id_device AND d.deleted_at IS NULL
		 WHERE dp.id_participant = ANY($1) AND dp.deleted_at IS NULL ORDER BY dp.id_participant, d.id_device`, list)
	if err != nil {
		return s.internal(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int32
		d := &corev1.Device{}
		var sub *int32
		var token, config, infos, notes *string
		var lastonline *time.Time
		if err := rows.Scan(&pid, &d.IdDevice, &d.DeviceUuid, &d.DeviceName, &d.IdDeviceType, &sub, &token,
			&d.DeviceEnabled, &d.DeviceOnlineable, &config, &infos, &notes, &lastonline); err != nil {
			return s.internal(ctx, err)
		}
		d.IdDeviceSubtype, d.DeviceToken, d.DeviceConfig = int32Value(sub), strValue(token), strValue(config)
		d.DeviceInfos, d.DeviceNotes, d.DeviceLastonline = strValue(infos), strValue(notes), strValue(isoTime(lastonline))
		v, err := messageValue(d)
		if err != nil {
			return s.internal(ctx, err)
		}
		byID[pid].ParticipantDevices.Values = append(byID[pid].ParticipantDevices.Values, v)
	}
	if err := rows.Err(); err != nil {
		return s.internal(ctx, err)
	}
	return nil
}

func (s *participants) PostParticipant(ctx context.Context, r *corev1.PostParticipantRequest) (*corev1.PostParticipantResponse, error) {
	m := caller(ctx)
	b := r.GetParticipant()
	if b == nil {
		return nil, apierr.MissingArgument("Missing participant")
	}
	if b.IdParticipant == nil || (b.IdProject == nil && b.IdParticipantGroup == nil) {
		return nil, apierr.MissingArgument("Missing id_participant, id_project or id_participant_group")
	}
	// id_participant_group: a number, 0 or null (no group).
	var group *int32
	hasGroup := b.IdParticipantGroup != nil
	if hasGroup {
		switch k := b.IdParticipantGroup.GetKind().(type) {
		case *structpb.Value_NullValue:
		case *structpb.Value_NumberValue:
			v := k.NumberValue
			if v != float64(int32(v)) || v < 0 {
				return nil, apierr.InvalidArgument("Invalid id_participant_group")
			}
			if v > 0 {
				g := int32(v)
				group = &g
			}
		default:
			return nil, apierr.InvalidArgument("Invalid id_participant_group")
		}
	}
	c := newChanges()
	if b.ParticipantName != nil {
		if strings.TrimSpace(*b.ParticipantName) == "" {
			return nil, apierr.InvalidArgument("Invalid participant_name")
		}
		c.set("participant_name", *b.ParticipantName)
	}
	if b.ParticipantUsername != nil {
		if len(*b.ParticipantUsername) > 50 {
			return nil, apierr.InvalidArgument("Invalid participant_username")
		}
		var v *string
		if *b.ParticipantUsername != "" {
			v = b.ParticipantUsername
		}
		c.set("participant_username", v)
	}
	if b.ParticipantEmail != nil {
		c.set("participant_email", *b.ParticipantEmail)
	}
	if b.ParticipantPassword != nil && *b.ParticipantPassword != "" {
		if len(*b.ParticipantPassword) > 72 {
			return nil, apierr.InvalidArgument("Invalid participant_password")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(*b.ParticipantPassword), bcrypt.DefaultCost)
		if err != nil {
			return nil, apierr.InvalidArgument("Invalid participant_password")
		}
		c.set("participant_password", string(h))
	}
	if b.ParticipantEnabled != nil {
		c.set("participant_enabled", *b.ParticipantEnabled)
	}
	if b.ParticipantLoginEnabled != nil {
		c.set("participant_login_enabled", *b.ParticipantLoginEnabled)
	}
	if b.ParticipantTokenEnabled != nil {
		c.set("participant_token_enabled", *b.ParticipantTokenEnabled)
	}
	id := b.GetIdParticipant()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		project := b.IdProject
		if project != nil && *project > 0 {
			if err := s.require(ctx, tx, m, access.Projects, *project, false, "No admin access to project"); err != nil {
				return err
			}
		}
		if group != nil {
			if err := s.require(ctx, tx, m, access.ParticipantGroups, *group, false, "No admin access to group"); err != nil {
				return err
			}
			var gp int32
			if err := tx.QueryRow(ctx, "SELECT id_project FROM core.t_participants_groups WHERE id_participant_group = $1 AND deleted_at IS NULL", *group).Scan(&gp); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return apierr.InvalidArgument("Participant group not found.")
				}
				return err
			}
			if project != nil && *project > 0 && *project != gp {
				return apierr.InvalidArgument("Mismatch between id_project and group's project")
			}
			project = &gp
		}
		if hasGroup {
			c.set("id_participant_group", group)
		}
		if project != nil && *project > 0 {
			c.set("id_project", *project)
		}
		if id > 0 {
			if err := s.require(ctx, tx, m, access.Participants, id, false, "Forbidden"); err != nil {
				return err
			}
			if len(c.cols) > 0 {
				if _, err := tx.Exec(ctx, "UPDATE core.t_participants SET "+c.setSQL()+" WHERE id_participant = @id AND deleted_at IS NULL",
					merge(c.args, pgx.NamedArgs{"id": id})); err != nil {
					return participantWriteError(err)
				}
			}
		} else {
			if !c.has("id_project") {
				return apierr.MissingArgument("Missing id_project")
			}
			if !c.has("participant_name") {
				return apierr.MissingArgument("Missing participant_name")
			}
			c.set("participant_uuid", uuid.NewString())
			if err := tx.QueryRow(ctx, "INSERT INTO core.t_participants "+c.insertSQL()+" RETURNING id_participant", c.args).Scan(&id); err != nil {
				return participantWriteError(err)
			}
		}
		return s.syncParticipantToken(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	p, err := scanParticipant(s.db.QueryRow(ctx, `SELECT `+participantCols+`, NULL::timestamptz`+participantFrom+` WHERE p.id_participant = $1`, id), participantForm{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostParticipantResponse{Participants: []*corev1.Participant{p}}, nil
}

func participantWriteError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && strings.Contains(pe.ConstraintName, "username") {
		return apierr.Conflict("Participant username already in use")
	}
	return err
}

// syncParticipantToken gives a token-enabled, enabled participant a static token (signed with
// the ParticipantTokenEncryptionKey setting) and clears it when token access is turned off.
func (s *participants) syncParticipantToken(ctx context.Context, tx pgx.Tx, id int32) error {
	var uid string
	var enabled, tokenEnabled bool
	var token *string
	err := tx.QueryRow(ctx, `SELECT participant_uuid, participant_enabled, participant_token_enabled, participant_token
		FROM core.t_participants WHERE id_participant = $1`, id).Scan(&uid, &enabled, &tokenEnabled, &token)
	if err != nil {
		return err
	}
	switch {
	case !tokenEnabled && token != nil:
		_, err = tx.Exec(ctx, "UPDATE core.t_participants SET participant_token = NULL WHERE id_participant = $1", id)
	case tokenEnabled && enabled && token == nil:
		var key string
		if err := tx.QueryRow(ctx, "SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = 'ParticipantTokenEncryptionKey'").Scan(&key); err != nil {
			return err
		}
		tok := seed.StaticToken(key, map[string]any{"participant_uuid": uid, "id_participant": id})
		_, err = tx.Exec(ctx, "UPDATE core.t_participants SET participant_token = $2 WHERE id_participant = $1", id, tok)
	}
	return err
}

func (s *participants) DeleteParticipant(ctx context.Context, r *corev1.DeleteParticipantRequest) (*corev1.DeleteParticipantResponse, error) {
	m := caller(ctx)
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := s.require(ctx, tx, m, access.Participants, r.GetId(), true, "Forbidden")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_participants SET deleted_at = now() WHERE id_participant = $1 AND deleted_at IS NULL", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteParticipantResponse{}, nil
}
