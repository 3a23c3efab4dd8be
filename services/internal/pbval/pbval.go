// Package pbval turns the optional columns the store scans (nil pointers for SQL NULL) into the
// protobuf values the API messages carry: wrappers for optional fields, and a JSON null or
// string for the google.protobuf.Value fields OpenTera answers null in.
package pbval

import (
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// String is nil for NULL, else the wrapped string.
func String(p *string) *wrapperspb.StringValue {
	if p == nil {
		return nil
	}
	return wrapperspb.String(*p)
}

// Int32 is nil for NULL, else the wrapped integer.
func Int32(p *int32) *wrapperspb.Int32Value {
	if p == nil {
		return nil
	}
	return wrapperspb.Int32(*p)
}

// NullableString is a JSON null for NULL, else the string.
func NullableString(p *string) *structpb.Value {
	if p == nil {
		return structpb.NewNullValue()
	}
	return structpb.NewStringValue(*p)
}
