package testenv

import (
	"context"
	"testing"

	natsgo "github.com/nats-io/nats.go"
)

func TestMain(m *testing.M) { Main(m) }

func TestDatabasesAreMigratedAndIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := DB(t), DB(t)
	var n int
	if err := a.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'core'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("schema core in clone: n=%d err=%v", n, err)
	}
	if _, err := a.Exec(ctx, `CREATE TABLE public.only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table leaked between clones: n=%d err=%v", n, err)
	}
}

func TestNATSHasJetStream(t *testing.T) {
	nc, err := natsgo.Connect(NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("jetstream not enabled: %v", err)
	}
}
