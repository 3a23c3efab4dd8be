package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Choice is one selectable value of a form's list: an object's id and display name.
type Choice struct {
	ID   int32  `db:"id"`
	Name string `db:"name"`
}

// ChoiceList names the lists /api/user/forms fills, each from the caller's accessible objects
// (OpenTera's UserQueryForms and forms/*); "Of" lists take a project or site id.
type ChoiceList int

const (
	ChoiceSites ChoiceList = iota
	ChoiceProjects
	ChoiceProjectsOfSite
	ChoiceGroups
	ChoiceGroupsOfProject
	ChoiceServices
	ChoiceServicesOfProject
	ChoiceSessionTypes
	ChoiceSessionTypesOfProject
	ChoiceUsers
	ChoiceUsersOfProject
	ChoiceDevices
	ChoiceDevicesOfProject
	ChoiceParticipants
	ChoiceParticipantsOfProject
	ChoiceDeviceTypes
)

const accSQL = "(SELECT x.id FROM core.acc_%s(@acc_kind::text, @acc_id::integer, false%s) x)"

func acc(object, extra string) string { return fmt.Sprintf(accSQL, object, extra) }

var choiceQueries = map[ChoiceList]string{
	ChoiceSites: `SELECT id_site AS id, site_name AS name FROM core.t_sites WHERE deleted_at IS NULL AND id_site IN ` + acc("sites", "") + ` ORDER BY id_site`,
	ChoiceProjects: `SELECT p.id_project AS id, p.project_name || ' [' || s.site_name || ']' AS name FROM core.t_projects p
	  JOIN core.t_sites s ON s.id_site = p.id_site WHERE p.deleted_at IS NULL AND p.id_project IN ` + acc("projects", "") + ` ORDER BY p.id_project`,
	ChoiceProjectsOfSite: `SELECT p.id_project AS id, p.project_name || ' [' || s.site_name || ']' AS name FROM core.t_projects p
	  JOIN core.t_sites s ON s.id_site = p.id_site WHERE p.deleted_at IS NULL AND p.id_site = @id AND p.id_project IN ` + acc("projects", "") + ` ORDER BY p.id_project`,
	ChoiceGroups: `SELECT id_participant_group AS id, participant_group_name AS name FROM core.t_participants_groups
	  WHERE deleted_at IS NULL AND id_participant_group IN ` + acc("participant_groups", "") + ` ORDER BY id_participant_group`,
	ChoiceGroupsOfProject: `SELECT id_participant_group AS id, participant_group_name AS name FROM core.t_participants_groups
	  WHERE deleted_at IS NULL AND id_project = @id AND id_participant_group IN ` + acc("participant_groups", "") + ` ORDER BY id_participant_group`,
	ChoiceServices: `SELECT id_service AS id, service_name AS name FROM core.t_services WHERE deleted_at IS NULL AND id_service IN ` + acc("services", "") + ` ORDER BY id_service`,
	ChoiceServicesOfProject: `SELECT s.id_service AS id, s.service_name AS name FROM core.t_services s
	  JOIN core.t_services_projects sp ON sp.id_service = s.id_service AND sp.id_project = @id AND sp.deleted_at IS NULL
	 WHERE s.deleted_at IS NULL AND s.id_service IN ` + acc("services", "") + ` ORDER BY s.id_service`,
	ChoiceSessionTypes: `SELECT id_session_type AS id, session_type_name AS name FROM core.t_sessions_types
	  WHERE deleted_at IS NULL AND id_session_type IN ` + acc("session_types", "") + ` ORDER BY id_session_type`,
	ChoiceSessionTypesOfProject: `SELECT st.id_session_type AS id, st.session_type_name AS name FROM core.t_sessions_types st
	  JOIN core.t_sessions_types_projects stp ON stp.id_session_type = st.id_session_type AND stp.id_project = @id AND stp.deleted_at IS NULL
	 WHERE st.deleted_at IS NULL AND st.id_session_type IN ` + acc("session_types", "") + `
	   AND (st.session_type_category <> 1 OR st.id_service IN ` + acc("services", "") + `) ORDER BY st.session_type_name, st.id_session_type`,
	// The caller itself and, for a superadmin, every superadmin are always listed (OpenTera).
	ChoiceUsers: `SELECT id_user AS id, user_firstname || ' ' || user_lastname AS name FROM core.t_users
	  WHERE deleted_at IS NULL AND (id_user IN ` + acc("users", ", false") + ` OR (@acc_kind::text = 'user' AND id_user = @acc_id::integer))
	 ORDER BY id_user`,
	ChoiceUsersOfProject: `SELECT u.id_user AS id, u.user_firstname || ' ' || u.user_lastname AS name FROM core.t_users u
	  WHERE u.deleted_at IS NULL AND ((u.id_user IN ` + acc("users", ", true") + `
	        AND (u.user_superadmin OR EXISTS (SELECT 1 FROM core.user_project_roles(u.id_user) r WHERE r.id_project = @id)))
	     OR (@acc_kind::text = 'user' AND u.id_user = @acc_id::integer)
	     OR (u.user_superadmin AND core.is_superadmin(@acc_kind::text, @acc_id::integer)))
	 ORDER BY u.id_user`,
	ChoiceDevices: `SELECT id_device AS id, device_name AS name FROM core.t_devices WHERE deleted_at IS NULL AND id_device IN ` + acc("devices", "") + ` ORDER BY id_device`,
	ChoiceDevicesOfProject: `SELECT d.id_device AS id, d.device_name AS name FROM core.t_devices d
	  JOIN core.t_devices_projects dp ON dp.id_device = d.id_device AND dp.id_project = @id AND dp.deleted_at IS NULL
	 WHERE d.deleted_at IS NULL AND d.id_device IN ` + acc("devices", "") + ` ORDER BY d.id_device`,
	ChoiceParticipants: `SELECT id_participant AS id, participant_name AS name FROM core.t_participants
	  WHERE deleted_at IS NULL AND id_participant IN ` + acc("participants", "") + ` ORDER BY id_participant`,
	ChoiceParticipantsOfProject: `SELECT id_participant AS id, participant_name AS name FROM core.t_participants
	  WHERE deleted_at IS NULL AND id_project = @id AND id_participant IN ` + acc("participants", "") + ` ORDER BY id_participant`,
	// Device types are global (OpenTera lists them all).
	ChoiceDeviceTypes: `SELECT id_device_type AS id, device_type_name AS name FROM core.t_devices_types ORDER BY id_device_type`,
}

// Choices returns one list of a form's selectable values, limited to what the caller may see.
func Choices(ctx context.Context, db DB, scope access.Scope, l ChoiceList, id int32) ([]Choice, error) {
	q, ok := choiceQueries[l]
	if !ok {
		return nil, fmt.Errorf("form choices: unknown list %d", l)
	}
	return list[Choice](ctx, db, "form choices", q, scope, pgx.NamedArgs{"id": id})
}

// FormParticipantProject is the project of a participant the caller sees (ErrNotFound
// otherwise): the participant form lists that project's groups.
func FormParticipantProject(ctx context.Context, db DB, scope access.Scope, id int32) (int32, error) {
	return formID(ctx, db, scope, `SELECT id_project FROM core.t_participants WHERE id_participant = @id AND deleted_at IS NULL
	  AND id_participant IN `+acc("participants", ""), id)
}

// FormGroupSite is the site of a participant group the caller sees.
func FormGroupSite(ctx context.Context, db DB, scope access.Scope, id int32) (int32, error) {
	return formID(ctx, db, scope, `SELECT p.id_site FROM core.t_participants_groups g JOIN core.t_projects p ON p.id_project = g.id_project
	 WHERE g.id_participant_group = @id AND g.deleted_at IS NULL AND g.id_participant_group IN `+acc("participant_groups", ""), id)
}

// FormSessionTypeCategory is the category of a live session type (any: OpenTera does not check).
func FormSessionTypeCategory(ctx context.Context, db DB, scope access.Scope, id int32) (int32, error) {
	return formID(ctx, db, scope, `SELECT session_type_category FROM core.t_sessions_types WHERE id_session_type = @id AND deleted_at IS NULL`, id)
}

// FormSessionProject is the project whose lists the session form shows: the project of a
// session the caller sees (its first participant's), else project if the caller sees it, else 0.
func FormSessionProject(ctx context.Context, db DB, scope access.Scope, session, project int32) (int32, error) {
	var out int32
	err := db.QueryRow(ctx, `SELECT coalesce(
	    (SELECT core.session_project(@session) WHERE @session::integer <> 0 AND CASE WHEN @acc_kind::text = 'user'
	        THEN core.user_can_session(@acc_id::integer, @session) ELSE @session IN `+acc("sessions", "")+` END),
	    (SELECT @project::integer WHERE @project::integer IN `+acc("projects", "")+`), 0)`,
		scope.Args(pgx.NamedArgs{"session": session, "project": project})).Scan(&out)
	return out, wrap("form session project", err)
}

// FormServiceKey is the key of the service named by id or key (ErrNotFound when none).
func FormServiceKey(ctx context.Context, db DB, id int32, key string) (string, error) {
	var out string
	err := db.QueryRow(ctx, `SELECT service_key FROM core.t_services WHERE deleted_at IS NULL
	   AND ((@id::integer <> 0 AND id_service = @id) OR (@id::integer = 0 AND service_key = @key))`, pgx.NamedArgs{"id": id, "key": key}).Scan(&out)
	return out, wrap("form service", err)
}

func formID(ctx context.Context, db DB, scope access.Scope, q string, id int32) (int32, error) {
	var out int32
	err := db.QueryRow(ctx, q, scope.Args(pgx.NamedArgs{"id": id})).Scan(&out)
	return out, wrap("form context", err)
}
