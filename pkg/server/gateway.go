package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	errorsv1 "github.com/tera-health/tera/pkg/api/tera/errors/v1"
	"github.com/tera-health/tera/pkg/apierr"
)

// Metadata keys the gateway forwards to gRPC. The `token` query parameter (OpenTera's third way
// to pass a token) travels as MDToken.
const (
	MDToken      = "tera-token"
	MDRemoteAddr = "tera-remote-addr"
	// MDBody is a response header a handler sets (with RespondNull) to make the gateway answer
	// with a JSON null body instead of the response message, as OpenTera does on some list
	// endpoints when nothing matched. gRPC clients get the (empty) message and the header.
	MDBody = "tera-body"
)

// RespondNull marks the response of a unary handler so the REST gateway answers `null`.
func RespondNull(ctx context.Context) error {
	return grpc.SetHeader(ctx, metadata.Pairs(MDBody, "null"))
}

// rewriteResponse answers `null` for responses marked by RespondNull.
func rewriteResponse(ctx context.Context, resp proto.Message) (any, error) {
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		if v := md.HeaderMD.Get(MDBody); len(v) > 0 && v[0] == "null" {
			return structpb.NewNullValue(), nil
		}
	}
	return resp, nil
}

// ReasonHeader carries the ErrorReason of an error response, for clients that want more than
// the status code without parsing OpenTera's plain-string bodies.
const ReasonHeader = "X-Tera-Error-Reason"

// forwardedHeaders are the HTTP headers REST handlers may see as gRPC metadata.
var forwardedHeaders = map[string]bool{
	"Authorization":     true,
	"X-Client-Name":     true,
	"X-Client-Version":  true,
	"Accept-Language":   true,
	"X-Forwarded-For":   true,
	"X-Real-Ip":         true,
	"X-Ssl-Client-Cert": true,
	"X-Client-Cert":     true,
	"X-Forwarded-Proto": true,
	"X-Forwarded-Host":  true,
}

func headerMatcher(key string) (string, bool) {
	if forwardedHeaders[textproto.CanonicalMIMEHeaderKey(key)] {
		return strings.ToLower(key), true
	}
	return "", false
}

func gatewayMetadata(ctx context.Context, r *http.Request) metadata.MD {
	md := metadata.MD{}
	if a := recordOf(r.Context()); a != nil {
		md.Set(mdRequest, a.id)
		if p, ok := runtime.HTTPPathPattern(ctx); ok {
			a.setRoute(p)
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		md.Set(MDToken, t)
	}
	md.Set(MDRemoteAddr, r.RemoteAddr)
	return md
}

// newGatewayMux emits OpenTera's JSON: proto field names (OpenTera's snake_case keys) and every
// field, set or not.
func (s *Server) newGatewayMux() *runtime.ServeMux {
	marshaler := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
	}
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithOutgoingHeaderMatcher(func(k string) (string, bool) { return k, k != MDBody }),
		runtime.WithForwardResponseRewriter(rewriteResponse),
		runtime.WithMetadata(gatewayMetadata),
		runtime.WithErrorHandler(s.errorHandler),
		runtime.WithRoutingErrorHandler(s.routingErrorHandler),
	)
}

// HTTPStatus maps a status to the HTTP status OpenTera answers with.
func HTTPStatus(st *status.Status) int {
	switch apierr.ReasonOf(st) {
	case errorsv1.ErrorReason_ERROR_REASON_INTEGRITY:
		return http.StatusInternalServerError
	case errorsv1.ErrorReason_ERROR_REASON_CLIENT_VERSION:
		return http.StatusUpgradeRequired
	case errorsv1.ErrorReason_ERROR_REASON_TOO_MANY_ATTEMPTS:
		return http.StatusTooManyRequests
	}
	switch st.Code() {
	case codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.Aborted:
		return http.StatusConflict
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// errorHandler writes errors the way OpenTera does: 401 as text/html "Unauthorized"; other
// errors as a JSON string message, or as the JSON object carried in a google.protobuf.Struct
// detail (OpenTera's 426 version body, for instance).
func (s *Server) errorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || strings.Contains(st.Message(), "http: request body too large") ||
		(st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")) {
		// A chunked body cut at the limit, or (belt and braces) a message gRPC found over its
		// own limit: the same answer as a declared Content-Length over the limit.
		st = status.Convert(apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_TOO_LARGE, TooLargeMessage(s.cfg.MaxBodyBytes)))
	}
	if st.Code() == codes.Internal && strings.Contains(st.Message(), "invalid UTF-8") {
		// The gateway could not marshal the request for gRPC: a query parameter (or path
		// value) is not UTF-8. The client's fault, as OpenTera's 400 for a bad value.
		st = status.Convert(apierr.InvalidArgument("Invalid value: not UTF-8"))
	}
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		for k, vs := range md.HeaderMD {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	code := HTTPStatus(st)
	if reason := apierr.ReasonOf(st); reason != errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		w.Header().Set(ReasonHeader, reason.String())
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte("Unauthorized"))
		return
	}
	var body []byte
	for _, d := range st.Details() {
		if s, ok := d.(*structpb.Struct); ok {
			body, _ = protojson.Marshal(s)
		}
	}
	if body == nil {
		msg := st.Message()
		if st.Code() == codes.Internal || st.Code() == codes.Unknown {
			// Never echo internal error text to clients; it is logged by the interceptor chain.
			if apierr.ReasonOf(st) != errorsv1.ErrorReason_ERROR_REASON_INTERNAL {
				msg = "Internal Server Error"
			}
		}
		body, _ = json.Marshal(msg)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Server) routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		writeMethodNotAllowed(w)
	case http.StatusNotFound:
		s.errorHandler(ctx, mux, m, w, r, apierr.NotFound("The requested URL was not found on the server."))
	default:
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
	}
}
