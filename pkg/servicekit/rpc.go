package servicekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// OpenTera's service RPC methods (REFERENCE §6).
const (
	// MethodSessionTypeConfig answers the configuration of one of the service's session types:
	// request {"id_session_type": n}, answer the config object.
	MethodSessionTypeConfig = "session_type_config"
	// MethodSessionManage answers /api/*/sessions/manager for the service's session types:
	// request {"session_manage": {...}}.
	MethodSessionManage = "session_manage"
)

// RPCSubject is the subject of a service's RPC method: tera.service.<key>.rpc.<method>
// (OpenTera's service.<key>.rpc, one subject per method so NATS routes without parsing).
func RPCSubject(serviceKey, method string) string {
	return "tera.service." + natsToken(serviceKey) + ".rpc." + method
}

// RPCHandler answers one request (JSON in, JSON-encodable out). An *RPCError keeps its code;
// any other error is answered as code 500.
type RPCHandler func(ctx context.Context, request json.RawMessage) (any, error)

// RPCError is an RPC refusal with a status code (400 bad request, 404 unknown object, ...).
type RPCError struct {
	Code        int
	Description string
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Description) }

// rpcTimeout bounds one handler (OpenTera's RPC client gives up after 10 s).
const rpcTimeout = 10 * time.Second

// ServeRPC registers the service's RPC methods as a nats.go/micro service (discoverable with
// `nats micro ls`, with stats per endpoint); replicas share the load through micro's queue
// group. Stop the returned service to unregister.
func ServeRPC(nc *nats.Conn, serviceKey, version string, handlers map[string]RPCHandler) (micro.Service, error) {
	if version == "" {
		version = "0.0.0"
	}
	svc, err := micro.AddService(nc, micro.Config{Name: "tera-service-" + microName(serviceKey), Version: version,
		Description: "RPC of the Tera service " + serviceKey})
	if err != nil {
		return nil, fmt.Errorf("rpc service: %w", err)
	}
	g := svc.AddGroup("tera.service." + natsToken(serviceKey) + ".rpc")
	for method, h := range handlers {
		if err := g.AddEndpoint(method, rpcHandler(h)); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("rpc method %s: %w", method, err)
		}
	}
	return svc, nil
}

// ServeRPC is the package ServeRPC on the kit's connection.
func (k *Kit) ServeRPC(version string, handlers map[string]RPCHandler) (micro.Service, error) {
	if k.NATS == nil {
		return nil, errors.New("RPC needs NATS (TERA_NATS_URL)")
	}
	return ServeRPC(k.NATS, k.Config.ServiceKey, version, handlers)
}

func rpcHandler(h RPCHandler) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		defer cancel()
		out, err := h(ctx, json.RawMessage(r.Data()))
		if err != nil {
			var re *RPCError
			if !errors.As(err, &re) {
				re = &RPCError{Code: 500, Description: err.Error()}
			}
			_ = r.Error(fmt.Sprint(re.Code), re.Description, nil)
			return
		}
		_ = r.RespondJSON(out)
	})
}

// microName keeps what micro accepts in a service name (letters, digits, '-', '_').
func microName(key string) string {
	b := []byte(key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Call sends an RPC request to a service and decodes the answer into out; the caller's side
// (core calls session_type_config and session_manage this way). No service answering is
// nats.ErrNoResponders.
func Call(ctx context.Context, nc *nats.Conn, serviceKey, method string, request, out any) error {
	b, err := json.Marshal(request)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
	}
	m, err := nc.RequestWithContext(ctx, RPCSubject(serviceKey, method), b)
	if err != nil {
		return fmt.Errorf("rpc %s.%s: %w", serviceKey, method, err)
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		var c int
		_, _ = fmt.Sscan(code, &c)
		return &RPCError{Code: c, Description: m.Header.Get(micro.ErrorHeader)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(m.Data, out); err != nil {
		return fmt.Errorf("rpc %s.%s: decode answer: %w", serviceKey, method, err)
	}
	return nil
}
