package store_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/tera-health/tera/services/internal/store"
)

// Registration is idempotent (a second run writes nothing, so no DatabaseEvent), safe when
// replicas run it together, updates a changed declaration and credential, and never takes over
// a system service's key or resurrects a row an administrator deleted.
func TestRegisterServices(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	h := sha256.Sum256([]byte("secret-one"))
	reg := store.ServiceRegistration{Key: "Quiz", Name: "Quiz", Hostname: "quiz", Port: 8080, Endpoint: "/", ClientEndpoint: "/quiz",
		SecretSHA256: h[:]}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, err := store.RegisterServices(ctx, pool, []store.ServiceRegistration{reg})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := scalar[int64](t, pool, `SELECT count(*) FROM core.t_services WHERE service_key = 'Quiz'`); n != 1 {
		t.Fatalf("%d rows", n)
	}
	events := func() int64 {
		return scalar[int64](t, pool, `SELECT count(*) FROM core.outbox WHERE model = 'service'`)
	}
	before := events()
	if _, err := store.RegisterServices(ctx, pool, []store.ServiceRegistration{reg}); err != nil || events() != before {
		t.Fatalf("an unchanged declaration wrote again (%v)", err)
	}

	reg.Port, reg.SecretSHA256 = 9090, func() []byte { h := sha256.Sum256([]byte("secret-two")); return h[:] }()
	if _, err := store.RegisterServices(ctx, pool, []store.ServiceRegistration{reg}); err != nil {
		t.Fatal(err)
	}
	c, err := store.GetServiceCredential(ctx, pool, "Quiz")
	if err != nil || string(c.SecretSHA256) != string(reg.SecretSHA256) || !c.Enabled ||
		scalar[int32](t, pool, `SELECT service_port FROM core.t_services WHERE service_key = 'Quiz'`) != 9090 || events() != before+1 {
		t.Fatalf("update: %+v %v", c, err)
	}

	sys := store.ServiceRegistration{Key: "FileTransferService", Name: "mine", Hostname: "evil", Port: 1, Endpoint: "/", ClientEndpoint: "/file",
		SecretSHA256: reg.SecretSHA256}
	if _, err := pool.Exec(ctx, `UPDATE core.t_services SET deleted_at = now() WHERE service_key = 'Quiz'`); err != nil {
		t.Fatal(err)
	}
	res, err := store.RegisterServices(ctx, pool, []store.ServiceRegistration{reg, sys})
	if err != nil || res[0].Skipped == "" || res[1].Skipped == "" {
		t.Fatalf("deleted and system rows: %+v %v", res, err)
	}
	if scalar[string](t, pool, `SELECT service_hostname FROM core.t_services WHERE service_key = 'FileTransferService'`) == "evil" {
		t.Fatal("a system service was taken over")
	}
	if _, err := store.GetServiceCredential(ctx, pool, "FileTransferService"); err != store.ErrNotFound {
		t.Fatalf("system service got a credential: %v", err)
	}
	if _, err := store.GetServiceCredential(ctx, pool, "Quiz"); err != store.ErrNotFound {
		t.Fatalf("deleted service still has a usable credential: %v", err)
	}
}
