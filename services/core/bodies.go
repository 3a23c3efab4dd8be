package core

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// write runs fn in one transaction (inTx) given as the store's database interface: the checks
// and writes of a request commit together with their outbox rows.
func (s *Service) write(ctx context.Context, fn func(db store.DB) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return fn(tx) })
}

// writeBody answers a POST of one object: read validates its body b (superadmin: as a
// superadmin may write it) before any transaction, so that a bad body is a 400 without a
// database round trip; write then writes it in one transaction (inTx) as the caller and answers
// the row it wrote.
func writeBody[B, W, T any](ctx context.Context, s *Service, b B, read func(b B, superadmin bool) (W, error),
	write func(ctx context.Context, tx pgx.Tx, m me, w W) (T, error)) (T, error) {
	m := caller(ctx)
	var out T
	w, err := read(b, m.superadmin)
	if err != nil {
		return out, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) (err error) {
		out, err = write(ctx, tx, m, w)
		return err
	})
	return out, err
}

// bodyID is the id of a {"<obj>": {"id_<obj>": n, …}} body, answering 400 with OpenTera's
// message for a missing wrapper or id.
func bodyID[B any](b *B, id func(*B) *int32, obj string) (int32, error) {
	return bodyKey(b, id, obj, "id_"+obj)
}

// bodyKey is a required key of a {"<obj>": {…}} body: 400 "Missing <obj>" without the wrapper,
// "Missing <what>" without the key.
func bodyKey[B, T any](b *B, key func(*B) *T, obj, what string) (T, error) {
	var zero T
	if b == nil {
		return zero, apierr.MissingArgument("Missing " + obj)
	}
	if p := key(b); p != nil {
		return *p, nil
	}
	return zero, apierr.MissingArgument("Missing " + what)
}

// orForbidden is err, else 403 with msg when the check did not pass.
func orForbidden(ok bool, err error, msg string) error {
	if err == nil && !ok {
		return apierr.Forbidden(msg)
	}
	return err
}

// messageList is messages as the JSON array the gateway would emit for them.
func messageList[M proto.Message](ms []M) (*structpb.ListValue, error) {
	out := &structpb.ListValue{Values: []*structpb.Value{}}
	for _, m := range ms {
		v, err := messageValue(m)
		if err != nil {
			return nil, err
		}
		out.Values = append(out.Values, v)
	}
	return out, nil
}

// message is a generated message type.
type message = proto.Message

// messageFrom fills m from an object keyed by its JSON (proto) field names.
func messageFrom(fields map[string]any, m proto.Message) error {
	j, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(j, m)
}

// bodyField is a key of a body and whether the body has it.
type bodyField struct {
	key string
	set bool
}

// unsetKeys lists the keys a body lacks, in order.
func unsetKeys(fs ...bodyField) []string {
	var out []string
	for _, f := range fs {
		if !f.set {
			out = append(out, f.key)
		}
	}
	return out
}

// mapRows maps the rows of a store listing to their protos (a failed listing to its answer).
func mapRows[R, P any](ctx context.Context, s *Service, rows []R, err error, fn func(R) P) ([]P, error) {
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return mapEach(rows, fn), nil
}

// tryRows is mapRows for a mapping that can fail, which is the server's error (500).
func tryRows[R, P any](ctx context.Context, s *Service, rows []R, err error, fn func(R) (P, error)) ([]P, error) {
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]P, len(rows))
	for i, r := range rows {
		if out[i], err = fn(r); err != nil {
			return nil, s.internal(ctx, err)
		}
	}
	return out, nil
}

func mapEach[R, P any](rows []R, fn func(R) P) []P {
	out := make([]P, len(rows))
	for i, r := range rows {
		out[i] = fn(r)
	}
	return out
}

// missingBody answers OpenTera's 400s of a POST without its {"<name>": …} wrapper or its id.
func missingBody(hasBody, hasID bool, name string) error {
	if !hasBody {
		return apierr.MissingArgument("Missing " + name)
	}
	if !hasID {
		return apierr.MissingArgument("Missing id_" + name)
	}
	return nil
}
