package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// TestType is a t_tests_types row with its service's key, uuid, endpoint and state, and
// whether the caller administers one of its projects (can_edit of its access token).
type TestType struct {
	IDTestType            int32   `db:"id_test_type"`
	IDService             int32   `db:"id_service"`
	TestTypeUUID          string  `db:"test_type_uuid"`
	TestTypeName          string  `db:"test_type_name"`
	TestTypeDescription   *string `db:"test_type_description"`
	TestTypeKey           *string `db:"test_type_key"`
	TestTypeHasJSONFormat bool    `db:"test_type_has_json_format"`
	TestTypeHasWebFormat  bool    `db:"test_type_has_web_format"`
	TestTypeHasWebEditor  bool    `db:"test_type_has_web_editor"`
	ServiceKey            string  `db:"service_key"`
	ServiceUUID           string  `db:"service_uuid"`
	ServiceEnabled        bool    `db:"service_enabled"`
	ServiceEndpoint       string  `db:"service_endpoint"`
	ProjectAdmin          bool    `db:"project_admin"`
}

// TestTypeSelector says which test types to list (OpenTera's UserQueryTestTypes selectors).
type TestTypeSelector int

const (
	TestTypesVisible   TestTypeSelector = iota // every type the caller sees (acc_test_types)
	TestTypeByID                               // one visible type
	TestTypeByKey                              // idem, by test_type_key
	TestTypeByUUID                             // idem, by test_type_uuid
	TestTypesOfProject                         // linked to a project, visible, service visible
	TestTypesOfSite                            // linked to a site, service visible
)

const testTypeCols = `SELECT tt.id_test_type, tt.id_service, tt.test_type_uuid, tt.test_type_name, tt.test_type_description,
       tt.test_type_key, tt.test_type_has_json_format, tt.test_type_has_web_format, tt.test_type_has_web_editor,
       sv.service_key, sv.service_uuid, sv.service_enabled, sv.service_clientendpoint AS service_endpoint,
       EXISTS (SELECT 1 FROM core.t_tests_types_projects ap WHERE ap.id_test_type = tt.id_test_type AND ap.deleted_at IS NULL
                  AND ap.id_project IN (SELECT x.id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, true) x)) AS project_admin
  FROM core.t_tests_types tt
  JOIN core.t_services sv ON sv.id_service = tt.id_service
 WHERE tt.deleted_at IS NULL AND `

const ttServiceVisible = `tt.id_service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x)`

// One type by id, key or uuid must be a visible type (acc_test_types). OpenTera's query_test_type
// checks only its service, so a user of a service saw the types of sites it has no access to.
const ttVisible = `tt.id_test_type IN (SELECT x.id FROM core.acc_test_types(@acc_kind::text, @acc_id::integer, false) x)`

var testTypeQueries = map[TestTypeSelector]string{
	TestTypesVisible: testTypeCols + `tt.id_test_type IN (SELECT x.id FROM core.acc_test_types(@acc_kind::text, @acc_id::integer, false) x)
 ORDER BY tt.id_test_type`,
	TestTypeByID:   testTypeCols + `tt.id_test_type = @id AND ` + ttVisible,
	TestTypeByKey:  testTypeCols + `tt.test_type_key = @key AND ` + ttVisible,
	TestTypeByUUID: testTypeCols + `tt.test_type_uuid = @key AND ` + ttVisible,
	TestTypesOfProject: testTypeCols + `tt.id_test_type IN (SELECT l.id_test_type FROM core.t_tests_types_projects l
	    WHERE l.id_project = @id AND l.deleted_at IS NULL)
   AND tt.id_test_type IN (SELECT x.id FROM core.acc_test_types(@acc_kind::text, @acc_id::integer, false) x) AND ` + ttServiceVisible + `
 ORDER BY tt.test_type_name, tt.id_test_type`,
	TestTypesOfSite: testTypeCols + `tt.id_test_type IN (SELECT l.id_test_type FROM core.t_tests_types_sites l
	    WHERE l.id_site = @id AND l.deleted_at IS NULL) AND ` + ttServiceVisible + `
 ORDER BY tt.test_type_name, tt.id_test_type`,
}

// ListTestTypes returns the test types one selector names (id for ids, key for the key and uuid
// selectors) that the caller may see. The project and site selectors do not check the project
// or site itself: surfaces answering 403 for it check first.
func ListTestTypes(ctx context.Context, db DB, scope access.Scope, by TestTypeSelector, id int32, key string) ([]TestType, error) {
	q, ok := testTypeQueries[by]
	if !ok {
		return nil, fmt.Errorf("list test types: unknown selector %d", by)
	}
	return list[TestType](ctx, db, "list test types", q, scope, pgx.NamedArgs{"id": id, "key": key})
}

// DeleteTestType soft-deletes a test type whose service the caller administers (ErrNotFound
// otherwise); its links go with it and the schema refuses while tests use it (*IntegrityError).
func DeleteTestType(ctx context.Context, db DB, scope access.Scope, id int32) error {
	f := scope.AdminOnly().Services()
	var mine, used bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_tests_types WHERE id_test_type = @id AND deleted_at IS NULL
	    AND id_service IN (`+f.SQL+`)),
	  EXISTS (SELECT 1 FROM core.t_tests WHERE id_test_type = @id AND deleted_at IS NULL)`, f.With(pgx.NamedArgs{"id": id})).Scan(&mine, &used); err != nil {
		return wrap("delete test type", err)
	}
	switch {
	case !mine:
		return ErrNotFound
	case used:
		// OpenTera's TeraTestType.delete_check_integrity.
		return &IntegrityError{Message: "Can't delete test type: please delete all tests of that type before deleting."}
	}
	_, err := db.Exec(ctx, `UPDATE core.t_tests_types SET deleted_at = now() WHERE id_test_type = $1 AND deleted_at IS NULL`, id)
	return wrap("delete test type", err)
}

// TestTypePatch is the columns of a test type write (nil: unchanged, or the default on insert).
type TestTypePatch struct {
	Service                *int32
	Name, Description, Key *string
	JSONFormat, WebFormat  *bool
	WebEditor              *bool
}

func (p TestTypePatch) args() pgx.NamedArgs {
	return pgx.NamedArgs{"service": p.Service, "name": p.Name, "description": p.Description, "key": p.Key,
		"json": p.JSONFormat, "web": p.WebFormat, "editor": p.WebEditor}
}

// InsertTestType creates a test type with a fresh uuid.
func InsertTestType(ctx context.Context, db DB, p TestTypePatch) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_tests_types (id_service, test_type_uuid, test_type_name, test_type_description,
		test_type_key, test_type_has_json_format, test_type_has_web_format, test_type_has_web_editor)
		VALUES (@service, gen_random_uuid()::text, @name, @description, @key, coalesce(@json::boolean, false),
		        coalesce(@web::boolean, false), coalesce(@editor::boolean, false))
		RETURNING id_test_type`, p.args()).Scan(&id)
	return id, wrap("insert test type", err)
}

// UpdateTestType changes a live test type whose service the caller administers (ErrNotFound
// otherwise): OpenTera checks only the service named in the body, so a service admin could
// move another service's type to its own.
func UpdateTestType(ctx context.Context, db DB, scope access.Scope, id int32, p TestTypePatch) error {
	f := scope.AdminOnly().Services()
	a := p.args()
	a["id"] = id
	tag, err := db.Exec(ctx, `UPDATE core.t_tests_types
		SET id_service = coalesce(@service, id_service), test_type_name = coalesce(@name, test_type_name),
		    test_type_description = coalesce(@description, test_type_description), test_type_key = coalesce(@key, test_type_key),
		    test_type_has_json_format = coalesce(@json::boolean, test_type_has_json_format),
		    test_type_has_web_format = coalesce(@web::boolean, test_type_has_web_format),
		    test_type_has_web_editor = coalesce(@editor::boolean, test_type_has_web_editor)
		WHERE id_test_type = @id AND deleted_at IS NULL AND id_service IN (`+f.SQL+`)`, f.With(a))
	return affected(tag.RowsAffected(), wrap("update test type", err))
}

// TestTypeServiceOf returns a live test type's service; ErrNotFound when absent.
func TestTypeServiceOf(ctx context.Context, db DB, id int32) (int32, error) {
	var svc int32
	err := db.QueryRow(ctx, `SELECT id_service FROM core.t_tests_types WHERE id_test_type = $1 AND deleted_at IS NULL`, id).Scan(&svc)
	return svc, wrap("test type service", err)
}

// TestTypeWritten reads back a test type the caller has just written in its transaction (the
// write was checked against its scope; the type may lie outside what it can list).
func TestTypeWritten(ctx context.Context, db DB, scope access.Scope, id int32) (TestType, error) {
	return one[TestType](ctx, db, "test type", testTypeCols+`tt.id_test_type = @id`, scope, pgx.NamedArgs{"id": id})
}

// UncheckedTestTypeProjects lets the transaction remove test type-project links while tests of
// the type exist there (a test type POST replacing its projects, as OpenTera; migration 00020).
func UncheckedTestTypeProjects(ctx context.Context, db DB) error {
	_, err := db.Exec(ctx, `SELECT set_config('tera.test_type_project_check', 'off', true)`)
	return wrap("test type project check", err)
}

// TestTypeIDByUUID returns the id of a live test type; ErrNotFound when absent.
func TestTypeIDByUUID(ctx context.Context, db DB, uuid string) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `SELECT id_test_type FROM core.t_tests_types WHERE test_type_uuid = $1 AND deleted_at IS NULL`, uuid).Scan(&id)
	return id, wrap("test type by uuid", err)
}
