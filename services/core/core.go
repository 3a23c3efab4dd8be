// Package core serves OpenTera's REST API for the core target on its four surfaces
// (/api/user, /api/participant, /api/device, /api/service): one file per resource, holding
// every surface's handlers of it (sites.go is /api/user/sites and /api/service/sites,
// participants.go /api/{user,service,device,participant}/participants, …).
// Every read joins the SQL access rules of services/internal/access; every write runs in one
// transaction whose rows the outbox triggers turn into DatabaseEvents.
package core

import (
	"context"
	"errors"
	"log/slog"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	errorsv1 "github.com/tera-health/tera/pkg/api/tera/errors/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/dbtrace"
	"github.com/tera-health/tera/services/internal/pbval"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
)

// Service is the core target's user API.
type Service struct {
	db       *pgxpool.Pool
	log      *slog.Logger
	presence *presence.Mirror
	// signer signs asset access tokens; publicURL prefixes asset URLs (WithAssetTokens).
	signer    *authn.Signer
	publicURL string
	// traced: write transactions hand their trace to the outbox (WithTracing).
	traced bool
	// nats carries session_manage to the services (WithNATS).
	nats *nats.Conn
}

// WithNATS lets /api/*/sessions/manager call the services (without it they answer 503).
func (s *Service) WithNATS(nc *nats.Conn) *Service { s.nats = nc; return s }

// WithPresence fills the *_online and *_busy fields from usermanager's presence (without it
// everyone is offline).
func (s *Service) WithPresence(m *presence.Mirror) *Service { s.presence = m; return s }

// WithTracing makes the events of a traced request's writes continue its trace: the
// transaction carries the span's traceparent to the outbox capture trigger.
func (s *Service) WithTracing(t *telemetry.Tracing) *Service { s.traced = t != nil; return s }

// New returns the service over a pool.
func New(db *pgxpool.Pool, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, log: log}
}

// Name implements server.Service.
func (s *Service) Name() string { return "core" }

// RegisterGRPC implements server.Service.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	corev1.RegisterSiteServiceServer(g, &sites{Service: s})
	corev1.RegisterProjectServiceServer(g, &projects{Service: s})
	corev1.RegisterGroupServiceServer(g, &groups{Service: s})
	corev1.RegisterParticipantServiceServer(g, &participants{Service: s})
	corev1.RegisterParticipantSelfServiceServer(g, &participantSelf{Service: s})
	corev1.RegisterParticipantSurfaceServiceServer(g, &participantSurface{Service: s})
	corev1.RegisterDeviceSurfaceServiceServer(g, &deviceSurface{Service: s})
	corev1.RegisterUserServiceServer(g, &users{Service: s})
	corev1.RegisterUserGroupServiceServer(g, &userGroups{Service: s})
	corev1.RegisterSiteAccessServiceServer(g, &siteAccess{Service: s})
	corev1.RegisterProjectAccessServiceServer(g, &projectAccess{Service: s})
	corev1.RegisterUserUserGroupServiceServer(g, &userUserGroups{Service: s})
	corev1.RegisterUserPreferenceServiceServer(g, &userPreferences{Service: s})
	corev1.RegisterServerServiceServer(g, &serverInfo{Service: s})
	corev1.RegisterServicesServiceServer(g, &servicesAPI{Service: s})
	corev1.RegisterServiceRoleServiceServer(g, &serviceRoles{Service: s})
	corev1.RegisterServiceProjectServiceServer(g, &serviceProjects{Service: s})
	corev1.RegisterServiceSiteServiceServer(g, &serviceSites{Service: s})
	corev1.RegisterServiceAccessServiceServer(g, &serviceAccess{Service: s})
	corev1.RegisterServiceConfigServiceServer(g, &serviceConfigs{Service: s})
	corev1.RegisterDeviceTypeServiceServer(g, &deviceTypes{Service: s})
	corev1.RegisterDeviceSubTypeServiceServer(g, &deviceSubTypes{Service: s})
	corev1.RegisterSessionServiceServer(g, &sessions{Service: s})
	corev1.RegisterSessionEventServiceServer(g, &sessionEvents{Service: s})
	corev1.RegisterSessionManagerServiceServer(g, &sessionManager{Service: s})
	corev1.RegisterDeviceServiceServer(g, &devices{Service: s})
	corev1.RegisterSessionTypeServiceServer(g, &sessionTypes{Service: s})
	corev1.RegisterAssetServiceServer(g, &assets{Service: s})
	corev1.RegisterDeviceSiteServiceServer(g, &deviceSites{Service: s})
	corev1.RegisterDeviceProjectServiceServer(g, &deviceProjects{Service: s})
	corev1.RegisterDeviceParticipantServiceServer(g, &deviceParticipants{Service: s})
	corev1.RegisterSessionTypeSiteServiceServer(g, &sessionTypeSites{Service: s})
	corev1.RegisterSessionTypeProjectServiceServer(g, &sessionTypeProjects{Service: s})
	corev1.RegisterSessionTypeServiceServiceServer(g, &sessionTypeServices{Service: s})
	corev1.RegisterTestServiceServer(g, &tests{Service: s})
	corev1.RegisterTestTypeServiceServer(g, &testTypes{Service: s})
	corev1.RegisterTestInvitationServiceServer(g, &testInvitations{Service: s})
	corev1.RegisterTestTypeSiteServiceServer(g, &testTypeSites{Service: s})
	corev1.RegisterTestTypeProjectServiceServer(g, &testTypeProjects{Service: s})
	corev1.RegisterStatsServiceServer(g, &stats{Service: s})
	corev1.RegisterFormServiceServer(g, &forms{Service: s})
	corev1.RegisterServiceApiServiceServer(g, &serviceAPI{Service: s})
	corev1.RegisterServiceTestApiServiceServer(g, &serviceTests{Service: s})
}

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	for _, reg := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		corev1.RegisterSiteServiceHandler,
		corev1.RegisterProjectServiceHandler,
		corev1.RegisterGroupServiceHandler,
		corev1.RegisterParticipantServiceHandler,
		corev1.RegisterParticipantSelfServiceHandler,
		corev1.RegisterParticipantSurfaceServiceHandler,
		corev1.RegisterDeviceSurfaceServiceHandler,
		corev1.RegisterUserServiceHandler,
		corev1.RegisterUserGroupServiceHandler,
		corev1.RegisterSiteAccessServiceHandler,
		corev1.RegisterProjectAccessServiceHandler,
		corev1.RegisterUserUserGroupServiceHandler,
		corev1.RegisterUserPreferenceServiceHandler,
		corev1.RegisterServerServiceHandler,
		corev1.RegisterServicesServiceHandler,
		corev1.RegisterServiceRoleServiceHandler,
		corev1.RegisterServiceProjectServiceHandler,
		corev1.RegisterServiceSiteServiceHandler,
		corev1.RegisterServiceAccessServiceHandler,
		corev1.RegisterServiceConfigServiceHandler,
		corev1.RegisterDeviceTypeServiceHandler,
		corev1.RegisterDeviceSubTypeServiceHandler,
		corev1.RegisterSessionServiceHandler,
		corev1.RegisterSessionEventServiceHandler,
		corev1.RegisterSessionManagerServiceHandler,
		corev1.RegisterDeviceServiceHandler,
		corev1.RegisterSessionTypeServiceHandler,
		corev1.RegisterAssetServiceHandler,
		corev1.RegisterDeviceSiteServiceHandler,
		corev1.RegisterDeviceProjectServiceHandler,
		corev1.RegisterDeviceParticipantServiceHandler,
		corev1.RegisterSessionTypeSiteServiceHandler,
		corev1.RegisterSessionTypeProjectServiceHandler,
		corev1.RegisterSessionTypeServiceServiceHandler,
		corev1.RegisterTestServiceHandler,
		corev1.RegisterTestTypeServiceHandler,
		corev1.RegisterTestInvitationServiceHandler,
		corev1.RegisterTestTypeSiteServiceHandler,
		corev1.RegisterTestTypeProjectServiceHandler,
		corev1.RegisterStatsServiceHandler,
		corev1.RegisterFormServiceHandler,
		corev1.RegisterServiceApiServiceHandler,
		corev1.RegisterServiceTestApiServiceHandler,
	} {
		if err := reg(ctx, mux, conn); err != nil {
			return err
		}
	}
	return nil
}

// me is the caller of a request: its access scope, and for users their id and superadmin flag
// (0 and false for other principals).
type me struct {
	id         int32
	superadmin bool
	acc        access.Scope
}

func caller(ctx context.Context) me {
	c := authn.FromContext(ctx)
	m := me{acc: access.For(access.FromAuthn(c))}
	if c != nil && c.Kind == authn.KindUser {
		m.id, m.superadmin = int32(c.ID), c.Superadmin
	}
	return m
}

// can reports whether the caller may see (or, adminOnly, administer) one object.
func (s *Service) can(ctx context.Context, q access.Querier, m me, o access.Object, id int32, adminOnly bool) (bool, error) {
	sc := m.acc
	if adminOnly {
		sc = sc.AdminOnly()
	}
	ok, err := sc.Can(ctx, q, o, id)
	if err != nil {
		return false, s.internal(ctx, err)
	}
	return ok, nil
}

// require is can, answering 403 with msg when the caller lacks the right.
func (s *Service) require(ctx context.Context, q access.Querier, m me, o access.Object, id int32, adminOnly bool, msg string) error {
	ok, err := s.can(ctx, q, m, o, id, adminOnly)
	if err != nil {
		return err
	}
	if !ok {
		return apierr.Forbidden(msg)
	}
	return nil
}

// inTx runs fn in a transaction; the outbox rows the triggers write commit with it.
func (s *Service) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var opts pgx.TxOptions
	if s.traced {
		opts = dbtrace.TxOptions(ctx)
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return s.dbError(ctx, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return s.dbError(ctx, err)
	}
	return s.dbError(ctx, tx.Commit(ctx))
}

// dbError turns database errors into OpenTera's answers: integrity refusals (SQLSTATE TI001,
// raised by the schema's triggers) and constraint violations are 500 with a message; refused
// values are 400; anything else is a 500 that does not leak internals. Status errors pass
// through. The SQLSTATEs are read by store.MapError alone.
func (s *Service) dbError(ctx context.Context, err error) error {
	if err == nil || apierr.IsStatus(err) {
		return err
	}
	err = store.MapError(err)
	var ie *store.IntegrityError
	var ce *store.ConflictError
	var ve *store.InvalidValueError
	switch {
	case errors.As(err, &ie):
		return apierr.Integrity(ie.Message)
	case errors.As(err, &ce) && ce.Constraint != "":
		return apierr.Integrity("Database error: duplicate value (" + ce.Constraint + ")")
	case errors.As(err, &ve):
		return apierr.InvalidArgument("Invalid value")
	}
	return s.internal(ctx, err)
}

// notImplemented is OpenTera's 501 with its message (an operation OpenTera itself does not do).
func notImplemented(msg string) error {
	return apierr.New(codes.Unimplemented, errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED, msg)
}

// orDenied answers "no row the scope covers" with 403 and msg: to a client, unknown and
// inaccessible objects look the same, as in OpenTera.
func orDenied(err error, msg string) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierr.Forbidden(msg)
	}
	return err
}

// orNotFound is err, or store.ErrNotFound when there is none (an empty result).
func orNotFound(err error) error {
	if err == nil {
		return store.ErrNotFound
	}
	return err
}

// softDelete is a DELETE ?id= of the user API: the row is soft-deleted within the caller's
// admin scope in one transaction (cascades and refusals run in the database); a missing id is
// 400, an unknown or not administered one 403.
func (s *Service) softDelete(ctx context.Context, t store.Table, id *int32) error {
	return s.deleteByID(ctx, id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.Delete(ctx, tx, caller(ctx).acc.AdminOnly(), t, id), "Forbidden")
	})
}

// deleteByID is a DELETE ?id=: 400 without the id, else del runs with it in one transaction.
func (s *Service) deleteByID(ctx context.Context, id *int32, del func(tx pgx.Tx, id int32) error) error {
	if id == nil {
		return apierr.MissingArgument("Missing id")
	}
	return s.inTx(ctx, func(tx pgx.Tx) error { return del(tx, *id) })
}

// reply answers out, or nil and err when the request failed.
func reply[R any](out *R, err error) (*R, error) {
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) internal(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	s.log.ErrorContext(ctx, "core: database error", "err", err)
	return apierr.Internal("Database error")
}

// respondNull makes the REST answer `null` (OpenTera's "nothing matched" on some lists).
func respondNull(ctx context.Context) {
	_ = server.RespondNull(ctx) // fails only outside a gRPC call (direct calls in tests)
}

// changes collects the columns of an UPDATE or INSERT from the keys present in a body.
type changes struct {
	cols []string
	args pgx.NamedArgs
}

func newChanges() *changes { return &changes{args: pgx.NamedArgs{}} }

func (c *changes) set(col string, v any) {
	c.cols = append(c.cols, col)
	c.args[col] = v
}

// setSQL is "a = @a, b = @b".
func (c *changes) setSQL() string {
	out := ""
	for i, col := range c.cols {
		if i > 0 {
			out += ", "
		}
		out += col + " = @" + col
	}
	return out
}

// insertSQL is "(a, b) VALUES (@a, @b)".
func (c *changes) insertSQL() string {
	cols, vals := "", ""
	for i, col := range c.cols {
		if i > 0 {
			cols += ", "
			vals += ", "
		}
		cols += col
		vals += "@" + col
	}
	return "(" + cols + ") VALUES (" + vals + ")"
}

func (c *changes) has(col string) bool {
	_, ok := c.args[col]
	return ok
}

// The store's optional columns as API values (one definition, shared with sessionjson).
var (
	strValue   = pbval.String
	int32Value = pbval.Int32
	nullable   = pbval.NullableString
)

// messageValue is a message as the JSON object the gateway would emit for it.
func messageValue(m proto.Message) (*structpb.Value, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	v := &structpb.Value{}
	return v, protojson.Unmarshal(b, v)
}

// idList reads a list of {"<key>": n} objects (OpenTera's link lists, e.g. sessiontypes or
// user_user_groups). A nil list means the key was absent.
func idList(l *structpb.ListValue, key string) ([]int32, error) {
	out := []int32{}
	for _, v := range l.GetValues() {
		f, ok := v.GetStructValue().GetFields()[key]
		n, isNum := f.GetKind().(*structpb.Value_NumberValue)
		if !ok || !isNum || n.NumberValue != float64(int32(n.NumberValue)) {
			return nil, apierr.InvalidArgument("Invalid " + key + " in list")
		}
		out = append(out, int32(n.NumberValue))
	}
	return out, nil
}

func merge(a, b pgx.NamedArgs) pgx.NamedArgs {
	out := make(pgx.NamedArgs, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
