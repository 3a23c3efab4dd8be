package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ScaleOptions sizes a synthetic data set.
type ScaleOptions struct {
	Participants           int // spread over projects of ~1000 participants, 10 projects per site
	SessionsPerParticipant int // sessions created by (and inviting) each participant
}

// ScaleResult names objects a benchmark can use.
type ScaleResult struct {
	Sites, Projects, Participants, Sessions int
	FirstProject                            int32 // a project of the set
	ProjectAdmin                            int32 // a user who is admin of FirstProject only
}

// Scale adds n synthetic participants with 10 sessions each (see ScaleWith).
func Scale(ctx context.Context, db DB, n int) error {
	_, err := ScaleWith(ctx, db, ScaleOptions{Participants: n, SessionsPerParticipant: 10})
	return err
}

// ScaleWith adds a synthetic data set on top of whatever the database holds: sites (each with an
// admin group holding one admin user), projects (each with its OpenTeraServer roles, an admin
// group with one admin user, a user group, four participant groups, two devices), participants
// assigned round-robin to projects (so a project's rows are spread over the whole table, the
// unfavourable case), and sessions. Participants are loaded with COPY, the rest with set-based
// INSERT … SELECT; the outbox capture is off for the transaction.
func ScaleWith(ctx context.Context, db DB, o ScaleOptions) (ScaleResult, error) {
	var res ScaleResult
	if o.Participants <= 0 {
		return res, fmt.Errorf("seed scale: need a positive number of participants")
	}
	nProjects := max(1, (o.Participants+999)/1000)
	nSites := max(1, (nProjects+9)/10)
	err := inTx(ctx, db, func(tx pgx.Tx) error {
		run := func(q string, args ...any) error {
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("seed scale: %s: %w", q, err)
			}
			return nil
		}
		ids := func(q string, args ...any) ([]int32, error) {
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("seed scale: %w", err)
			}
			return pgx.CollectRows(rows, pgx.RowTo[int32])
		}
		if err := run("SET LOCAL tera.outbox = 'off'"); err != nil {
			return err
		}
		if err := run("SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		tag := uuid.NewString()[:8]
		sites, err := ids(`INSERT INTO core.t_sites (site_name) SELECT 'Scale Site ' || $1 || '-' || i FROM generate_series(1, $2) i RETURNING id_site`, tag, nSites)
		if err != nil {
			return err
		}
		projects, err := ids(`INSERT INTO core.t_projects (id_site, project_name)
			SELECT ($1::int[])[1 + (i - 1) % cardinality($1::int[])], 'Scale Project ' || $2 || '-' || i
			  FROM generate_series(1, $3) i RETURNING id_project`, sites, tag, nProjects)
		if err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_participants_groups (id_project, participant_group_name)
			SELECT p, 'Group ' || g FROM unnest($1::int[]) p, generate_series(1, 4) g ORDER BY p, g`, projects); err != nil {
			return err
		}
		groups, err := ids(`SELECT id_participant_group FROM core.t_participants_groups WHERE id_project = ANY($1) ORDER BY id_project, id_participant_group`, projects)
		if err != nil {
			return err
		}
		// One admin user per project, through a per-project admin group.
		pw := hash("scale-Passw0rd!")
		if err := run(`INSERT INTO core.t_users_groups (user_group_name) SELECT 'Scale Admins P' || p FROM unnest($1::int[]) p`, projects); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_users (user_uuid, user_username, user_password, user_firstname, user_lastname, user_enabled)
			SELECT gen_random_uuid()::text, 'scale_admin_' || $2 || '_' || p, $3, 'Scale', 'Admin ' || p, true FROM unnest($1::int[]) p`, projects, tag, pw); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_users_users_groups (id_user, id_user_group)
			SELECT u.id_user, g.id_user_group FROM unnest($1::int[]) p
			  JOIN core.t_users u ON u.user_username = 'scale_admin_' || $2 || '_' || p
			  JOIN core.t_users_groups g ON g.user_group_name = 'Scale Admins P' || p`, projects, tag); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_services_access (id_user_group, id_service_role)
			SELECT g.id_user_group, r.id_service_role FROM unnest($1::int[]) p
			  JOIN core.t_users_groups g ON g.user_group_name = 'Scale Admins P' || p
			  JOIN core.t_services_roles r ON r.id_project = p AND r.service_role_name = 'admin'`, projects); err != nil {
			return err
		}
		// One admin user per site, through a per-site admin group.
		if err := run(`INSERT INTO core.t_users_groups (user_group_name) SELECT 'Scale Admins S' || s FROM unnest($1::int[]) s`, sites); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_users (user_uuid, user_username, user_password, user_firstname, user_lastname, user_enabled)
			SELECT gen_random_uuid()::text, 'scale_siteadmin_' || $2 || '_' || s, $3, 'Scale', 'Site Admin ' || s, true FROM unnest($1::int[]) s`, sites, tag, pw); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_users_users_groups (id_user, id_user_group)
			SELECT u.id_user, g.id_user_group FROM unnest($1::int[]) s
			  JOIN core.t_users u ON u.user_username = 'scale_siteadmin_' || $2 || '_' || s
			  JOIN core.t_users_groups g ON g.user_group_name = 'Scale Admins S' || s`, sites, tag); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_services_access (id_user_group, id_service_role)
			SELECT g.id_user_group, r.id_service_role FROM unnest($1::int[]) s
			  JOIN core.t_users_groups g ON g.user_group_name = 'Scale Admins S' || s
			  JOIN core.t_services_roles r ON r.id_site = s AND r.id_project IS NULL AND r.service_role_name = 'admin'`, sites); err != nil {
			return err
		}
		// Devices: two per project, linked to its site and project.
		if err := run(`INSERT INTO core.t_devices_types (device_type_name, device_type_key) VALUES ('Capteur', 'capteur')
			ON CONFLICT (device_type_key) DO NOTHING`); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_devices (device_uuid, device_name, id_device_type, device_enabled)
			SELECT gen_random_uuid()::text, 'Scale Device P' || p || '-' || d,
			       (SELECT id_device_type FROM core.t_devices_types WHERE device_type_key = 'capteur'), true
			  FROM unnest($1::int[]) p, generate_series(1, 2) d`, projects); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_devices_sites (id_device, id_site)
			SELECT DISTINCT d.id_device, pr.id_site FROM core.t_devices d
			  JOIN core.t_projects pr ON d.device_name LIKE 'Scale Device P' || pr.id_project || '-%'
			 WHERE pr.id_project = ANY($1)`, projects); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_devices_projects (id_device, id_project)
			SELECT d.id_device, pr.id_project FROM core.t_devices d
			  JOIN core.t_projects pr ON d.device_name LIKE 'Scale Device P' || pr.id_project || '-%'
			 WHERE pr.id_project = ANY($1)`, projects); err != nil {
			return err
		}
		// A session type for every scale site and project.
		st, err := ids(`INSERT INTO core.t_sessions_types (session_type_name, session_type_online, session_type_color, session_type_category)
			VALUES ('Scale data collection', false, '#00FFFF', 2) RETURNING id_session_type`)
		if err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_sessions_types_sites (id_session_type, id_site) SELECT $1, s FROM unnest($2::int[]) s`, st[0], sites); err != nil {
			return err
		}
		if err := run(`INSERT INTO core.t_sessions_types_projects (id_session_type, id_project) SELECT $1, p FROM unnest($2::int[]) p`, st[0], projects); err != nil {
			return err
		}

		// Participants, by COPY.
		var before int32
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id_participant), 0) FROM core.t_participants`).Scan(&before); err != nil {
			return err
		}
		cols := []string{"participant_uuid", "participant_name", "participant_email", "participant_enabled", "id_project", "id_participant_group"}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"core", "t_participants"}, cols, pgx.CopyFromFunc(func() func() ([]any, error) {
			k := 0
			return func() ([]any, error) {
				if k >= o.Participants {
					return nil, nil
				}
				pi := k % nProjects
				var group any
				if g := (k / nProjects) % 5; g < 4 { // one in five has no group
					group = groups[pi*4+g]
				}
				row := []any{uuid.NewString(), fmt.Sprintf("Participant %s-%d", tag, k+1), nil, k%20 != 0, projects[pi], group}
				k++
				return row, nil
			}
		}()))
		if err != nil {
			return fmt.Errorf("seed scale: copy participants: %w", err)
		}
		res.Participants = int(n)
		// Link each project's devices to a few of its participants.
		if err := run(`INSERT INTO core.t_devices_participants (id_device, id_participant)
			SELECT dp.id_device, p.id_participant FROM core.t_devices_projects dp
			  JOIN LATERAL (SELECT id_participant FROM core.t_participants
			                 WHERE id_project = dp.id_project AND id_participant > $1 ORDER BY id_participant LIMIT 3) p ON true
			 WHERE dp.id_project = ANY($2)`, before, projects); err != nil {
			return err
		}
		if o.SessionsPerParticipant > 0 {
			var sBefore int32
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(id_session), 0) FROM core.t_sessions`).Scan(&sBefore); err != nil {
				return err
			}
			if err := run(`INSERT INTO core.t_sessions (session_uuid, id_session_type, id_creator_participant, session_name,
				session_start_datetime, session_duration, session_status)
				SELECT gen_random_uuid()::text, $3, p.id_participant, 'Séance #' || s,
				       now() - make_interval(days => s * 7 + p.id_participant % 7), 60 * (1 + (p.id_participant + s) % 80), 2
				  FROM core.t_participants p, generate_series(1, $2) s
				 WHERE p.id_participant > $1`, before, o.SessionsPerParticipant, st[0]); err != nil {
				return err
			}
			if err := run(`INSERT INTO core.t_sessions_participants (id_session, id_participant)
				SELECT id_session, id_creator_participant FROM core.t_sessions WHERE id_session > $1`, sBefore); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM core.t_sessions WHERE id_session > $1`, sBefore).Scan(&res.Sessions); err != nil {
				return err
			}
		}
		res.Sites, res.Projects, res.FirstProject = len(sites), len(projects), projects[0]
		return tx.QueryRow(ctx, `SELECT id_user FROM core.t_users WHERE user_username = 'scale_admin_' || $1 || '_' || $2::int`, tag, projects[0]).Scan(&res.ProjectAdmin)
	})
	if err != nil {
		return res, err
	}
	return res, nil
}
