// Package apierr builds the gRPC errors every Tera service returns: a status whose details hold a
// google.rpc.ErrorInfo with a tera.errors.v1.ErrorReason, so gRPC clients can branch on the reason
// and the REST gateway can answer with OpenTera's status codes.
package apierr

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	errorsv1 "github.com/tera-health/tera/pkg/api/tera/errors/v1"
)

// Domain of every ErrorInfo Tera emits.
const Domain = "tera.health"

// New returns a status error with the reason attached.
func New(code codes.Code, reason errorsv1.ErrorReason, msg string) error {
	st := status.New(code, msg)
	withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		return st.Err()
	}
	return withInfo.Err()
}

// Newf is New with a format.
func Newf(code codes.Code, reason errorsv1.ErrorReason, format string, args ...any) error {
	return New(code, reason, fmt.Sprintf(format, args...))
}

// MissingArgument is OpenTera's 400 "Missing arguments" family.
func MissingArgument(msg string) error {
	return New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_MISSING_ARGUMENT, msg)
}

// InvalidArgument is a 400 for a malformed value.
func InvalidArgument(msg string) error {
	return New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg)
}

// Unauthenticated is a 401.
func Unauthenticated(msg string) error {
	return New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_UNAUTHENTICATED, msg)
}

// Forbidden is a 403.
func Forbidden(msg string) error {
	return New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_FORBIDDEN, msg)
}

// NotFound is a 404.
func NotFound(msg string) error {
	return New(codes.NotFound, errorsv1.ErrorReason_ERROR_REASON_NOT_FOUND, msg)
}

// Conflict is a 409.
func Conflict(msg string) error {
	return New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_CONFLICT, msg)
}

// Integrity is OpenTera's 500-with-a-message for refused deletes and updates.
func Integrity(msg string) error {
	return New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_INTEGRITY, msg)
}

// Internal is a 500 whose message must not leak internals.
func Internal(msg string) error {
	return New(codes.Internal, errorsv1.ErrorReason_ERROR_REASON_INTERNAL, msg)
}

// Unavailable is a 503: a dependency is down; the client may retry.
func Unavailable(msg string) error {
	return New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_UNAVAILABLE, msg)
}

// Reason extracts the ErrorReason of an error, or UNSPECIFIED.
func Reason(err error) errorsv1.ErrorReason {
	st, ok := status.FromError(err)
	if !ok {
		return errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED
	}
	return ReasonOf(st)
}

// ReasonOf extracts the ErrorReason of a status.
func ReasonOf(st *status.Status) errorsv1.ErrorReason {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return errorsv1.ErrorReason(errorsv1.ErrorReason_value[info.GetReason()])
		}
	}
	return errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// IsStatus reports whether err already is a gRPC status error (and so safe to return as is).
func IsStatus(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se)
}
