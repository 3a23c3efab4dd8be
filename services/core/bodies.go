package core

import (
	"context"

	"github.com/jackc/pgx/v5"
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

// bodyID is the id of a {"<obj>": {"id_<obj>": n, …}} body, answering 400 with OpenTera's
// message for a missing wrapper or id.
func bodyID[B any](b *B, id func(*B) *int32, obj string) (int32, error) {
	if b == nil {
		return 0, apierr.MissingArgument("Missing " + obj)
	}
	if p := id(b); p != nil {
		return *p, nil
	}
	return 0, apierr.MissingArgument("Missing id_" + obj)
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
