// Command tera-operator reconciles TeraSite objects into the Tera fleet.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/operator/internal/controller"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// skipNameValidation lets tests start the manager more than once in one process.
var skipNameValidation = false

func main() {
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], nil))
}

// run parses args and runs the manager until ctx ends. cfg overrides the kubeconfig lookup
// (tests pass the envtest API server).
func run(ctx context.Context, args []string, cfg *rest.Config) int {
	fs := flag.NewFlagSet("tera-operator", flag.ContinueOnError)
	var (
		metricsAddr, probeAddr     string
		leaderElect, secureMetrics bool
		leaderElectionNamespace    string
		watchNamespace             string
	)
	fs.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "address of the metrics endpoint (\"0\" disables it)")
	fs.BoolVar(&secureMetrics, "metrics-secure", true, "serve metrics over HTTPS with authn/authz by the API server")
	fs.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&leaderElect, "leader-elect", true, "elect a leader so only one replica reconciles")
	fs.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's)")
	fs.StringVar(&watchNamespace, "watch-namespace", "", "only reconcile TeraSites of this namespace (default: all)")
	opts := zap.Options{Development: false}
	opts.BindFlags(fs)
	if cfg == nil {
		// --kubeconfig, registered on the global flag set by controller-runtime.
		flag.CommandLine.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")
	setupLog.Info("starting tera-operator", "version", version)

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(terav1.AddToScheme(scheme))

	// HTTP/2 is disabled on the metrics server (CVE-2023-44487 / rapid reset).
	disableHTTP2 := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       []func(*tls.Config){disableHTTP2},
	}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if cfg == nil {
		var err error
		if cfg, err = ctrl.GetConfig(); err != nil {
			setupLog.Error(err, "no Kubernetes configuration")
			return 1
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "tera-operator.tera.health",
		LeaderElectionNamespace:       leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controller.CacheOptions(watchNamespace),
		Controller:                    ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		return 1
	}
	if err := (&controller.TeraSiteReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("tera-operator"),
	}).SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to set up controller")
		return 1
	}
	// Liveness: the process answers. Readiness: the same (the manager only serves probes once
	// its caches can start); neither depends on anything outside the process.
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		return 1
	}
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "manager exited")
		return 1
	}
	return 0
}
