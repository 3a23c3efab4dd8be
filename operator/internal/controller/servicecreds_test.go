package controller_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/operator/internal/builder"
)

// Each external service gets its client credentials Secret, owned by the site, generated once
// and kept across reconciles; tera.yaml declares the service to core with that Secret's mount.
func TestExternalServiceSecretCreated(t *testing.T) {
	needEnvtest(t)
	ctx := context.Background()
	ns := newNamespace(t)
	if err := k8s.Create(ctx, baseSite(ns)); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{}
	eventually(t, "service credentials", func() error { return get(t, sec, ns, "clinic-exergames-credentials") })
	if string(sec.Data[builder.ServiceClientIDKey]) != "ExergamesService" || len(sec.Data[builder.ServiceSecretKey]) != 64 {
		t.Fatalf("credentials %v", sec.Data)
	}
	if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Name != "clinic" {
		t.Fatalf("owner %v", sec.OwnerReferences)
	}
	first := string(sec.Data[builder.ServiceSecretKey])

	cm := &corev1.ConfigMap{}
	eventually(t, "configmap declares the service", func() error {
		if err := get(t, cm, ns, "clinic-config"); err != nil {
			return err
		}
		var conf builder.TeraConfig
		if err := yaml.UnmarshalStrict([]byte(cm.Data["tera.yaml"]), &conf); err != nil {
			return err
		}
		if len(conf.ExternalServices) != 1 || conf.ExternalServices[0].Key != "ExergamesService" ||
			conf.ExternalServices[0].Hostname != "clinic-exergames" || conf.ExternalServices[0].ClientEndpoint != "/exergames" ||
			conf.ExternalServices[0].ClientSecretFile != "/etc/tera/services/exergames/client_secret" {
			return fmt.Errorf("external_services %+v", conf.ExternalServices)
		}
		return nil
	})

	// A reconcile after a spec change keeps the secret (rotating it is deleting the Secret).
	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Log.Level = "debug" })
	eventually(t, "reconciled", func() error {
		if err := get(t, cm, ns, "clinic-config"); err != nil {
			return err
		}
		var conf builder.TeraConfig
		_ = yaml.Unmarshal([]byte(cm.Data["tera.yaml"]), &conf)
		if conf.Log.Level != "debug" {
			return errors.New("not reconciled yet")
		}
		return nil
	})
	if err := get(t, sec, ns, "clinic-exergames-credentials"); err != nil || string(sec.Data[builder.ServiceSecretKey]) != first {
		t.Fatalf("the secret changed on reconcile (%v)", err)
	}
}
